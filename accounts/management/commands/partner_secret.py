"""Show, create or rotate the signing secret shared with a partner city."""

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from accounts.models import Partner
from search.federation.signing import new_secret


class Command(BaseCommand):
    help = (
        "Print the signing secret shared with a partner (made if there is none). With "
        "--rotate, make a new one and keep the old as previous until --finish-rotation."
    )

    def add_arguments(self, parser):
        parser.add_argument("partner_code")
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--rotate", action="store_true")
        group.add_argument("--finish-rotation", action="store_true")
        parser.add_argument(
            "--set", dest="secret", metavar="SECRET", help="Use this whsec_… secret."
        )

    @transaction.atomic
    def handle(self, *args, partner_code, rotate, finish_rotation, secret, **options):
        partner = (
            Partner.objects.select_for_update().filter(organisation__code=partner_code).first()
        )
        if partner is None:
            raise CommandError(f"No partner with code {partner_code!r}.")
        if secret is not None and not secret.startswith("whsec_"):
            raise CommandError("A signing secret looks like whsec_<base64>.")
        if finish_rotation:
            partner.signing_secret_previous = ""
        elif rotate:
            partner.signing_secret_previous = partner.signing_secret
            partner.signing_secret = secret or new_secret()
        elif secret is not None:
            partner.signing_secret = secret
        elif not partner.signing_secret:
            partner.signing_secret = new_secret()
        partner.save(update_fields=["signing_secret", "signing_secret_previous"])
        self.stdout.write(partner.signing_secret)
