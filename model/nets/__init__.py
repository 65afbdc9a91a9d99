"""What a GAN is here: the networks (DCGAN family, FastGAN family) and their config, the losses
as pure functions, differentiable augmentation, the EMA generator, and the weights files that
carry a network with its config (safetensors + JSON card). No training loop, no data, no CLI."""
