"""Issue an API key for a partner city and print it once; only its hash is kept."""

from django.core.management.base import BaseCommand, CommandError

from accounts.models import Partner, PartnerAPIKey


class Command(BaseCommand):
    help = "Issue an API key for the partner with this organisation code (printed once)."

    def add_arguments(self, parser):
        parser.add_argument("partner_code")
        parser.add_argument("--name", default="", help="What the key is for (shown in the admin).")
        parser.add_argument(
            "--revoke-others",
            action="store_true",
            help="Revoke this partner's earlier keys (after the partner has switched).",
        )

    def handle(self, *args, partner_code, name, revoke_others, **options):
        partner = Partner.objects.filter(organisation__code=partner_code).first()
        if partner is None:
            codes = ", ".join(
                Partner.objects.values_list("organisation__code", flat=True).order_by(
                    "organisation__code"
                )
            )
            raise CommandError(f"No partner with code {partner_code!r}. Partners: {codes or '-'}")
        if revoke_others:
            revoked = PartnerAPIKey.objects.filter(partner=partner, revoked=False).update(
                revoked=True
            )
            self.stderr.write(f"Revoked {revoked} earlier key(s).")
        _, key = PartnerAPIKey.objects.create_key(
            partner=partner, name=name or f"{partner_code} key"
        )
        self.stdout.write(key)
