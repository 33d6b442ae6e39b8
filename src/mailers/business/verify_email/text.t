Hello {{ name }},

Your verification code is {{ code }}. It expires in {{ minutes }} minutes.

If you did not create an account, you can ignore this e-mail.
