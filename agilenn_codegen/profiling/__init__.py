"""Per-layer and per-stage instruction profiles on the emulated cores (`agilenn profile`)."""

from agilenn_codegen.profiling.profile import DEFAULT_CPI, profile_model, profile_pipeline
from agilenn_codegen.profiling.report import LayerProfile, ProfileReport, StageProfile

__all__ = ["DEFAULT_CPI", "LayerProfile", "ProfileReport", "StageProfile", "profile_model", "profile_pipeline"]
