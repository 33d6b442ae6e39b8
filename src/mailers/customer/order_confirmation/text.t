{% set merchant = business_name | default(value="your merchant", boolean=true) %}Hello,

Thank you for your order with {{ merchant }}.

Order: {{ order_id }}
Status: {{ status }}

The order as {{ merchant }} sent it to us (quoted as received):

Customer:
{{ customer_name | quoted }}
Items:
{{ item_summary | quoted }}
Delivery address:
{{ address | quoted }}

We will e-mail you each time its status changes.

-- My Order Fellow, on behalf of {{ merchant }}
