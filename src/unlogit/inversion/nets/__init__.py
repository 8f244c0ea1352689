"""Inversion networks: the :class:`~unlogit.inversion.nets.net.InverterNet` contract, BigGAN layers, the
logit-conditioned generator, the projection discriminator, the baselines' nets and the logit encoder."""
