"""The README's Docker section is the deployment test's commands, in the same order (issue 18):
a change to one without the other fails here, in `make test`, without containers."""
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from steps import readme_block, unwrapped  # noqa: E402

README = Path(__file__).resolve().parents[2] / "README.md"


def docker_block() -> str:
    text = README.read_text(encoding="utf-8")
    section = text[text.index("#### Docker"):]
    return re.search(r"```sh\n(.*?)```", section, re.S)[1]


def test_the_readme_docker_commands_are_the_deployment_tests_steps():
    assert unwrapped(docker_block()) == unwrapped(readme_block())
