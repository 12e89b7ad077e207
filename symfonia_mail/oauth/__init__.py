"""OAuth2 sign-in: access tokens, the admin's Connect flows, problem codes."""
