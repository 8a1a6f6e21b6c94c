"""Training GEM on top of gem_core: ``data`` (ECG-Grounding records, signals, images, the dataset and
collator every trainer uses), ``make_data`` (knowledge-guided instruction data through an
OpenAI-compatible server, checked by grounding), ``sft`` (supervised fine-tuning, full or LoRA/QLoRA,
``accelerate launch``-able with the setups in ``configs/``). Each step is ``python -m training.<step>``."""
