"""Check every case's timeline hash chain; exit non-zero at the first broken link."""

from django.core.management.base import BaseCommand, CommandError

from search.models import Case
from search.services.timeline import timeline_first_break


class Command(BaseCommand):
    help = "Verify the hash chain of case timelines and report the first broken link."

    def add_arguments(self, parser):
        parser.add_argument("--case", dest="reference", help="Only this case (its reference).")

    def handle(self, *args, reference: str | None = None, **options):
        cases = Case.objects.order_by("pk")
        if reference:
            cases = cases.filter(reference=reference)
            if not cases.exists():
                raise CommandError(f"no case with reference {reference}")
        checked = 0
        for case in cases.iterator():
            broken = timeline_first_break(case)
            if broken:
                raise CommandError(
                    f"{broken.case_reference}: event #{broken.seq}: {broken.problem}"
                )
            checked += 1
        self.stdout.write(self.style.SUCCESS(f"timeline intact for {checked} case(s)"))
