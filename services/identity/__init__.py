"""Identity (统一身份认证): accounts, roles over the province → city → county → school hierarchy, tokens, SSO
(OpenID Connect provider), teacher real-name verification and parent–child links."""
