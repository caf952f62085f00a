"""pandera contracts and the asset checks built on them."""
