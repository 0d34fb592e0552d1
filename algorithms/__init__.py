"""Pure functions used by tasks and by the web process: no Django, torch, transformers or vllm."""
