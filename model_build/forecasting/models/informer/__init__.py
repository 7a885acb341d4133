"""Informer (Zhou et al., AAAI 2021): ProbSparse attention, distilling, generative decoder."""
