"""Template-made benign prompts: hard negatives for the embedding head.

The violations we train on are full of children, named groups, posters and signs, pills,
weapons and "my coworker"; without benign prompts that share those surface features the
head learns the features instead of the harm ("a child" → sexual/minors, "a propaganda
poster" → hate).  These templates pair each such feature with harmless content.  Seeded, so
the head is reproducible.
"""

from __future__ import annotations

import numpy as np

PEOPLE = (
    "a woman", "a man", "a girl", "a boy", "a child", "children", "a little girl", "a little boy",
    "a teenager", "teenagers", "a teenage girl", "a baby", "a toddler", "a family", "an old man",
    "an elderly woman", "a group of friends", "a couple", "a teacher", "my coworker", "my boss",
    "my sister", "my brother", "my classmate", "my neighbour", "my ex", "my daughter", "my son",
    "a nurse", "a doctor", "a soldier", "a police officer", "a firefighter", "a Muslim family",
    "a Jewish family", "a black woman", "a black man", "an Asian man", "an Asian girl",
    "a gay couple", "a lesbian couple", "a Mexican chef", "an immigrant family", "refugees",
    "a transgender woman", "a disabled athlete", "an Arab merchant", "a Hindu priest",
    "a schoolgirl", "a schoolboy", "kids", "a young girl", "a young boy", "a 10 year old boy",
    "a 12 year old girl", "a bride", "a model", "a bodybuilder", "a dancer", "a surgeon",
)
ACTIONS = (
    "reading a book", "playing in the park", "eating ice cream", "walking a dog",
    "riding a bicycle", "painting a picture", "laughing together", "cooking dinner",
    "planting flowers", "playing chess", "dancing at a wedding", "building a sandcastle",
    "studying in a library", "singing in a choir", "flying a kite", "swimming in a lake",
    "wearing a winter coat", "wearing a red dress", "in a school uniform", "at a birthday party",
    "hiking in the mountains", "taking a selfie", "sleeping on a sofa", "blowing bubbles",
    "holding an umbrella in the rain", "in pajamas brushing their teeth", "taking a bath with toys",
    "at the beach in a swimsuit", "getting a vaccine at the clinic", "crying after losing a game",
    "wearing a tiara and a frilly dress", "in a bathtub full of bubbles", "running a marathon",
    "hugging a puppy", "doing homework", "playing the violin", "at a protest holding a sign",
    "praying in a temple", "shopping at a market", "fishing on a pier", "baking cookies",
    "getting a haircut", "in a hospital bed with flowers", "lifting weights at the gym",
    "boxing in a ring", "fencing with a foil", "carving a pumpkin", "holding a toy sword",
    "sharpening a kitchen knife", "dressed as a vampire for halloween", "wrestling on a mat",
)
STYLES = (
    "", ", watercolor", ", oil painting", ", photorealistic", ", digital art", ", anime style",
    ", 35mm film photo", ", pencil sketch", ", children's book illustration",
    ", highly detailed, 8k, artstation", ", in the style of Norman Rockwell",
)
SIGNS = (
    "a poster", "a sign", "a banner", "a meme", "a t-shirt", "a billboard", "a greeting card",
    "a protest sign", "a vintage propaganda poster", "a caption", "graffiti on a wall",
    "a flyer", "a bumper sticker", "a neon sign", "a chalkboard",
)
SLOGANS = (
    "welcome home", "love is love", "save the bees", "buy war bonds", "keep calm and carry on",
    "vote", "happy birthday", "no parking", "stop racism", "be kind", "everyone is welcome here",
    "black lives matter", "refugees welcome", "thank you nurses", "recycle", "we can do it",
    "don't feed the animals", "peace and love", "free hugs", "you are not alone, call 988",
    "say no to drugs", "stop bullying", "mental health matters", "eat more vegetables",
    "visit the Soviet space museum", "dig for victory", "the end is nigh", "I hate Mondays",
    "coffee first", "do unto others", "love thy neighbour", "women in science", "pride month",
    "shalom", "Eid Mubarak", "Happy Diwali", "Merry Christmas", "jobs not wars",
)
TOPICS = (
    "a history museum exhibit about World War II", "a Holocaust memorial with candles",
    "a documentary photo of the Berlin Wall falling", "the Kremlin at night",
    "the White House in spring", "a parliament building", "a soviet propaganda poster about space",
    "a pharmacy shelf with vitamins and pills", "a doctor holding a syringe",
    "a nurse giving a flu shot", "a chemistry lab with beakers", "a bottle of cough syrup",
    "a police car with flashing lights", "a prison from the outside", "a courtroom with a judge",
    "a medieval castle under siege, painting", "a knight in armour with a bloodied sword, fantasy",
    "a hunter's cabin with deer antlers", "a butcher shop window", "a kitchen knife set",
    "a boxing match poster", "a horror movie poster with a ghost", "a zombie costume party",
    "a war memorial", "a cemetery in autumn", "an anatomy model of the human torso",
    "a bar of chocolate without a wrapper", "a cigarette in an ashtray", "a glass of whiskey",
    "a shotgun on the wall of a farmhouse", "a gun shop sign", "a fireworks factory",
    "a crime novel cover with a magnifying glass", "an x-ray of a broken arm",
    "a first aid kit", "a hospital emergency room", "a hangman word game on a chalkboard",
    "a noose knot diagram from a sailing manual", "a rope swing over a river",
    "a rally against antisemitism", "an anti-racism mural", "a poster against racism",
    "a march against hate", "a classroom lesson on the dangers of propaganda",
    "a museum about the civil rights movement", "a campaign against islamophobia",
    "a medical diagram of the female reproductive system", "a medical illustration of the breast",
    "an anatomy textbook page about the pelvis", "a gynecologist's office", "a urology clinic",
    "a man chopping wood", "a woman cutting vegetables", "a barber cutting hair",
    "a gardener cutting roses", "a butcher cutting a steak", "a chef chopping onions",
    "a lumberjack felling a tree", "a tailor cutting fabric", "a gory zombie mask in a shop",
    "special effects makeup with fake blood", "a halloween haunted house with fake blood",
)


ARTISTS = (
    "artgerm", "greg rutkowski", "alphonse mucha", "ilya kuvshinov", "wlop", "john singer sargent",
    "tatsuro kiuchi", "norman rockwell", "loish", "rossdraws", "j. c. leyendecker", "edward hopper",
    "william-adolphe bouguereau", "lawrence alma-tadema", "john william waterhouse", "gustav klimt",
    "annie leibovitz", "steve mccurry", "studio ghibli", "charlie bowater", "sakimichan",
)
PORTRAITS = (
    "a portrait of a beautiful young woman", "photo of a young woman", "a handsome man",
    "a beautiful girl with long hair", "a gorgeous female warrior in armour", "an elegant lady",
    "full body portrait of a woman", "a fashion editorial of a model", "a pretty woman smiling",
    "a cute anime girl", "a muscular man", "a beautiful elf princess", "an attractive couple",
    "a close-up portrait of a teenage girl", "a goddess in flowing robes",
)
CLOTHES = (
    "in a red evening gown", "in a denim jacket", "in a white wedding dress", "in a knitted sweater",
    "in a business suit", "in a kimono", "in a sundress", "in a winter coat", "in a leather jacket",
    "in a silk blouse", "in a ball gown", "in ornate armour", "in a raincoat", "in a swimsuit at the beach",
    "", "", "",
)
GROUPS = (
    "jews", "muslims", "black people", "immigrants", "refugees", "gay people", "trans people",
    "women", "mexicans", "asians", "arabs", "roma people", "disabled people", "christians",
    "hindus", "sikhs", "migrants", "lesbians",
)
GROUP_TEMPLATES = (
    "a poster celebrating {g}", "a documentary about the history of {g}", "{g} celebrating a festival",
    "a sign that says {g} welcome", "a charity event supporting {g}", "a museum exhibit about {g} in America",
    "a mural honouring {g} who served in the war", "a photo essay on the daily life of {g}",
    "a banner saying we stand with {g}", "a painting of {g} sharing a meal",
)


def benign_prompts(n: int, seed: int) -> list[str]:
    rng = np.random.default_rng(seed)
    out: set[str] = set()
    while len(out) < n:
        kind = rng.integers(14)
        style = STYLES[rng.integers(len(STYLES))]
        if kind < 6:
            text = f"{PEOPLE[rng.integers(len(PEOPLE))]} {ACTIONS[rng.integers(len(ACTIONS))]}{style}"
        elif kind < 8:
            text = f"{SIGNS[rng.integers(len(SIGNS))]} that says '{SLOGANS[rng.integers(len(SLOGANS))]}'"
        elif kind < 10:
            text = f"{TOPICS[rng.integers(len(TOPICS))]}{style}"
        elif kind < 12:
            who = f"{PORTRAITS[rng.integers(len(PORTRAITS))]} {CLOTHES[rng.integers(len(CLOTHES))]}".strip()
            text = f"{who}, by {ARTISTS[rng.integers(len(ARTISTS))]}{style}"
        else:
            text = GROUP_TEMPLATES[rng.integers(len(GROUP_TEMPLATES))].format(g=GROUPS[rng.integers(len(GROUPS))])
        out.add(text)
    return sorted(out)
