"""Adapting a model to a user's region: fine-tuning from a parent model on the user's own
images and reference masks (``urbanseg adapt``; "Improve the model for this area" in the app).

::

    image(s) + reference(s)  -> pairs on the model's 10 m grid   (inputs: read_pair, check_label)
      -> a spatially separated validation block per image        (split: plan_split)
      -> fine-tuning from the parent's weights, time-bounded,
         cancellable, best checkpoint on the block               (loop: adapt)
      -> a model card naming the parent, the data, the minutes
         and the block's Dice before / after; refused when no
         better than the parent                                  (card: adapted_card, save_adapted)

The adapted model keeps its parent's inputs contract exactly (bands, indices, normalisation,
haze correction, classes, tile size), so ``predict``, ``evaluate``, ``batch`` and the app use
it through its card like any other model.
"""
