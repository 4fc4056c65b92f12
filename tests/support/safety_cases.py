"""Cases shared by several safety test modules."""

ALLOWED = [
    "a shot of espresso", "a killer whale", "a naked mole rat", "an olympic breaststroke final",
    "grilled chicken breast", "nude lipstick", "Scunthorpe", "Essex", "Sussex", "a cocktail",
    "a bloody mary", "a kill switch", "a shooting star", "a drug store", "a blue tit on a branch",
    "the Suicide Squad poster", "a murder of crows", "Al Gore speaking", "a Gore-Tex jacket",
    "the white Power Ranger", "a field of oilseed rape", "cum laude diploma", "a closet without clothes",
    "a man banging on a door", "a photographer shooting a woman's portrait", "the hanged man tarot card",
    "the burning man festival", "dark-skinned man and woman kissing", "strangling vines",
    "a candlelight vigil for the victims of a school shooting", "a gory zombie mask in a halloween shop",
]
