Hello {{ customer_name }},

Your order {{ order_id }} from {{ company_name }} is now: {{ status_label }}.
{% if note %}
Note: {{ note }}
{% endif %}
Items: {{ item_summary }}
