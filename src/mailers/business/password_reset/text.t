Hello {{ name }},

Your password reset code is {{ code }}. It expires in {{ minutes }} minutes.

If you did not ask to reset your password, you can ignore this e-mail.
