import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the local admin account if there is none, and say how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("PERSONAMCP_ADMIN_USER", "admin"))

    def handle(self, *args, username, **options):
        User = get_user_model()
        password_file = settings.VAR_DIR / "admin_password"
        user = User.objects.filter(username=username).first()
        if user is None:
            password = os.environ.get("PERSONAMCP_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            User.objects.create_superuser(username=username, email="", password=password)
            password_file.write_text(password + "\n")
            password_file.chmod(0o600)
            self.stdout.write(f"Created admin account {username!r}.")
        if password_file.exists():
            self.stdout.write(
                f"Admin login: {username} / password in {password_file} "
                "(change it in the admin, then delete that file)"
            )
        else:
            self.stdout.write(f"Admin login: {username} (existing account)")
