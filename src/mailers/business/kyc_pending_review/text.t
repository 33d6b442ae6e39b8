Hello {{ name }},

The automated checks for {{ business_name }} need a closer look; a reviewer will decide shortly. You do not need to do anything now.
