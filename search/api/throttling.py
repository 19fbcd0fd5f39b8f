from rest_framework.throttling import SimpleRateThrottle


class ClientRateThrottle(SimpleRateThrottle):
    """One budget per client: a signed-in user, a partner's key, or else the address."""

    scope = "client"

    def get_cache_key(self, request, view):
        key = getattr(request, "auth", None)
        partner_id = getattr(key, "partner_id", None)
        if partner_id is not None:
            ident = f"partner:{partner_id}"
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = f"addr:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}
