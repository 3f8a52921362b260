"""The project's shared Python layer over Helm, used by scripts (validate, credentials, benchmark, the schema
build) and by the tests alike; installed into .venv by scripts/setup.sh (an editable install of
pyproject.toml), so nothing edits sys.path.

  qmtl_stack.helm       which Helm (find_helm: --helm / QMTL_HELM / the default), run_helm
  qmtl_stack.render     render_chart, render_error, helm_values (the values as Helm merges them), the render cache
  qmtl_stack.pins       the one reader of pyproject.toml's pins (also a command for the shell scripts)
  qmtl_stack.valuesets  every values set the project ships (values/ files and their declared bases)
  qmtl_stack.paths      where things are
"""
