Hello {{ name }},

Someone (maybe you) tried to register a new My Order Fellow account with this e-mail address. You already have an account: log in, or use "forgot password" if you cannot remember your password.

If this was not you, no action is needed.
