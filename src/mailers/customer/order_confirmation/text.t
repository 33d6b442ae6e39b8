Hello {{ customer_name }},

Thank you for your order with {{ company_name }}.

Order: {{ order_id }}
Items: {{ item_summary }}
Delivery address: {{ address }}
Status: {{ status }}

We will e-mail you each time its status changes.
