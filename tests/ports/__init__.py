"""Ports of well-known public PyTorch programs, each run with ``import numgrad as torch`` and with torch itself.

Each program is a module pair: ``<program>.py`` holds the upstream text, kept verbatim except that the script
body is a function taking the library modules (``torch``, ``nn``, ``F``, ``optim``, ...) as parameters and that
downloaded data is replaced by arrays of the same shape (each module's docstring lists its changes);
``test_<program>.py`` runs it with both libraries from the same weights, data and random draws
(``_harness.same_randomness``) and compares what it prints, the weights and the gradients.

pytorch/examples: vae, dcgan, mnist, mnist_rnn, regression, time_sequence_prediction.
pytorch/tutorials: the "Learning PyTorch with Examples" polynomial programs and dynamic_net, the 60 Minute Blitz
(tensor, autograd, neural networks, cifar10), the Learn-the-Basics quickstart. Elsewhere: the GPT-style model
and nn.Transformer word-language model in tests/test_attention.py, the LSTM word-language model in
tests/test_rnn.py.
"""
