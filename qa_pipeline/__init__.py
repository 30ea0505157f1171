"""qa_pipeline: score every contact-center call against QA rubrics."""

__version__ = "0.2.0"

__all__ = ["__version__"]
