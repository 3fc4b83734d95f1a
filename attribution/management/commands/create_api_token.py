"""`manage.py create_api_token <username> [--name NAME]`: issue an API token and print it once."""
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from attribution.api.auth import issue_token

NAME_MAX_LENGTH = 100


class Command(BaseCommand):
    help = "Create a Bearer token for the JSON API; the token is printed once and stored hashed."

    def add_arguments(self, parser):
        parser.add_argument("username", help="Django user the token acts as")
        parser.add_argument("--name", default="cli", help="Label shown in the admin (default: cli)")

    def handle(self, *args, username, name, **options):
        name = name.strip()
        if not name or len(name) > NAME_MAX_LENGTH:
            raise CommandError(
                f"--name must be 1 to {NAME_MAX_LENGTH} characters, got {name!r}.", returncode=2
            )
        user = get_user_model().objects.filter(**{get_user_model().USERNAME_FIELD: username}).first()
        if user is None:
            raise CommandError(f"username {username!r} does not exist.", returncode=2)
        if not user.is_active:
            raise CommandError(f"username {username!r} is inactive; activate the user first.", returncode=2)
        token, plaintext = issue_token(user, name)
        self.stdout.write(plaintext)
        self.stderr.write(
            f"Token {token.token_prefix}… ({name}) created for {username}. "
            "Store it now: it cannot be shown again."
        )
