"""Build script: setup.cfg declares the project; this adds the one thing it cannot say.

dialplan/, sounds/ and migrations/ stay at the top of the tree, their source of truth. A wheel
carries them inside the package as ``sc_asterisk/_data/<folder>`` (mapped by ``package_dir``
below), where ``sc_asterisk/paths.py`` finds them when the package runs outside a checkout.
"""
from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

# package inside the wheel -> folder at the top of the tree (the files each ships: package_data
# in setup.cfg)
RESOURCES = {"sc_asterisk._data.dialplan": "dialplan", "sc_asterisk._data.sounds": "sounds",
             "sc_asterisk._data.migrations": "migrations"}


class BuildPy(build_py):
    """Resources are data: only the files setup.cfg lists, never every ``*.py`` of the folder
    (``sounds/generate.py`` is a maintainer's tool, not part of the product)."""

    def find_package_modules(self, package, package_dir):
        if package in RESOURCES:
            return []
        return super().find_package_modules(package, package_dir)


setup(
    packages=find_packages(include=["sc_asterisk", "sc_asterisk.*"]) + list(RESOURCES),
    package_dir=RESOURCES,
    cmdclass={"build_py": BuildPy},
)
