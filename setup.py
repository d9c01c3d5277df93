"""Map the top-level folders into the ``mammoedge`` namespace (README, "Layout")."""

from setuptools import find_packages, setup

ROOTS = ("runtime", "firmware", "tools", "models")

packages: list[str] = []
package_dir: dict[str, str] = {}
for root in ROOTS:
    package_dir[f"mammoedge.{root}"] = root
    packages.append(f"mammoedge.{root}")
    packages += [f"mammoedge.{root}.{sub}" for sub in find_packages(root)]

setup(packages=packages, package_dir=package_dir)
