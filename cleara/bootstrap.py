"""First start of a real installation: the first admin, and how to log in.

    python -m cleara.bootstrap     (scripts/entrypoint migrate runs it after the migrations)

Creates the first superuser from DJANGO_SUPERUSER_USERNAME / DJANGO_SUPERUSER_PASSWORD
(/ DJANGO_SUPERUSER_EMAIL) when no superuser exists yet, and never touches an existing account:
changing the variables later does not reset anyone's password. Without them it says how to create
one (`createsuperuser`). Nothing here loads demo data.
"""
from __future__ import annotations

import os


def first_admin(environ: dict) -> tuple[str, str]:
    """Returns (what happened, the line to print)."""
    from django.conf import settings
    from django.contrib.auth import get_user_model

    users = get_user_model()
    login = f"{settings.CLEARA_BASE_URL.rstrip('/')}/login/"
    existing = users.objects.filter(is_superuser=True).order_by("pk").first()
    if existing is not None:
        return "exists", f"Cleara is ready: log in at {login} (administrator {existing.get_username()!r} exists)."
    username = environ.get("DJANGO_SUPERUSER_USERNAME", "").strip()
    password = environ.get("DJANGO_SUPERUSER_PASSWORD", "")
    if not username or not password:
        return "missing", (
            f"Cleara is ready at {login} but has no administrator yet: create one with "
            "`manage.py createsuperuser` (docker compose run --rm web manage createsuperuser), or set "
            "DJANGO_SUPERUSER_USERNAME and DJANGO_SUPERUSER_PASSWORD and run `scripts/entrypoint migrate` again."
        )
    users.objects.create_superuser(username=username, email=environ.get("DJANGO_SUPERUSER_EMAIL", ""), password=password)
    return "created", f"Cleara is ready: log in at {login} as {username!r} with the password in DJANGO_SUPERUSER_PASSWORD."


def main() -> int:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cleara.settings")
    django.setup()
    _, line = first_admin(dict(os.environ))
    print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
