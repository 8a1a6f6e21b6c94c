"""Training GEM on top of gem_core: ``data`` (ECG-Grounding records, signals, images, the dataset and
collator every trainer uses), ``make_data`` (knowledge-guided instruction data through an
OpenAI-compatible server, checked by grounding), ``sft`` (supervised fine-tuning, full or LoRA/QLoRA,
``accelerate launch``-able with the setups in ``configs/``), ``dpo``/``kto`` (preference training on the
ratings export with TRL's losses; ``preference`` holds the trainers, data and model adapter) and
``pairs`` (preference pairs made by the grounding verifier). Each step is ``python -m training.<step>``."""
