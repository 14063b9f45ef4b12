from setuptools import setup, find_packages

setup(
    name="symgrad",
    version="0.1.0",
    description="Closed-form gradients from a YAML spec, proven against PyTorch autograd, "
                "rendered as lecture notes.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    # the notes templates live in the top-level templates/ and install as symgrad/templates
    packages=find_packages(include=["symgrad", "symgrad.*"]) + ["symgrad.templates"],
    package_dir={"symgrad.templates": "templates"},
    package_data={"symgrad.templates": ["*.j2"]},
    include_package_data=True,
    python_requires=">=3.9",
    install_requires=["sympy>=1.12", "click>=8", "jinja2>=3", "PyYAML>=5.4", "torch>=2.0",
                      # torch uses NumPy when it is there and warns at import when it is not
                      "numpy"],
    # markdown-it-py: the notes tests render the Markdown as Jupyter does, raw HTML on
    extras_require={"test": ["pytest", "hypothesis", "markdown-it-py"]},
    entry_points={"console_scripts": ["symgrad = symgrad.cli:main"]},
)
