Hello {{ name }},

The KYC review of {{ business_name }} was not approved.

Reason: {{ reason }}

{% if resubmit_allowed %}You may correct your details and submit again.{% else %}Please contact support.{% endif %}
