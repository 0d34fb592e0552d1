"""Training runs of the training jobs (SFT, DPO, PRM) with TRL and transformers.

Imported only by the GPU worker's runners: torch, transformers, trl and peft are imported
inside the functions that need them.
"""
