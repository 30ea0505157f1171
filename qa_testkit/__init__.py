"""Test-data generators, training-corpus readers and ASR scoring for the tests, benchmarks and
scripts: development code, kept out of the installed ``qa_pipeline`` package (pyproject's
``[tool.setuptools.packages.find]`` includes ``qa_pipeline*`` only).

Importable from the repository root: pytest puts it on ``sys.path`` (``pythonpath = ["."]``), and
the benchmarks and scripts insert the checkout themselves. Their third-party needs are the ``test``
extra (jiwer, num2words) and the ``bench``/``sentiment`` extras (snownlp).

* :mod:`qa_testkit.web_results` — scored calls copied into thousands of rows (web app tests, benchmarks)
* :mod:`qa_testkit.analytics_rows` — 90 days of analytics rows (analytics tests, benchmarks)
* :mod:`qa_testkit.sentiment_corpora` — labelled sentiment corpora read from PyPI packages (training, evaluation)
* :mod:`qa_testkit.evaluation` — ASR CER/WER with text normalisation (jiwer, num2words)
"""
