<p>Hello {{ name }},</p><p>The automated checks for <strong>{{ business_name }}</strong> need a closer look; a reviewer will decide shortly. You do not need to do anything now.</p>
