{% set merchant = business_name | default(value="your merchant", boolean=true) %}Hello,

Your order {{ order_id }} from {{ merchant }} is now: {{ status_label }}.
{% if note %}
Note from {{ merchant }} (quoted as received):
{{ note | quoted }}
{% endif %}
Items (quoted as received):
{{ item_summary | quoted }}

-- My Order Fellow, on behalf of {{ merchant }}
