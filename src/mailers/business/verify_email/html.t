<p>Hello {{ name }},</p><p>Your verification code is <strong>{{ code }}</strong>. It expires in {{ minutes }} minutes.</p><p>If you did not create an account, you can ignore this e-mail.</p>
