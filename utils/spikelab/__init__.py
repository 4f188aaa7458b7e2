"""The experiment learners study: the grammar corpus, its BPE, the mini-GPT, the instrumented
training loop and the run log it writes.

corpus, bpe, data_order   the §A13 sentences, the tokenizer, the batches in their order (Phase 17)
model                     the mini-GPT (Phase 17)
schedule, optim_view      warmup + cosine; what AdamW's moments do (Phase 18)
config                    the canonical run and every named variant
train                     the instrumented loop; ``run_variant(name)`` trains one
runlog                    the one structure every training path writes
symptoms                  the post-mortem's §1 numbers read off a run log
runstore                  finished runs kept by config, so a session never trains one twice
spike                     ``python -m utils.spike``: train a variant, print its symptoms
"""
