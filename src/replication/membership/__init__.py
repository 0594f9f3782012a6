"""Stage 3, the membership model: the multinomial logit of segment on the predictors
(:mod:`.logit`)."""
