"""Word lists for the rules brain: subject categories and their cues, media, lighting, and a
small French / Spanish / German glossary.

Kept apart from the logic so the vocabulary can grow without touching the code paths.
Cues describe how to show the subject (framing, light, medium, texture) and never name new
things to draw: the rules brain must not invent subjects.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Cues:
    medium: str  # default medium when the user named none
    composition: str
    lighting: str  # skipped when the user already set the light or time of day
    detail: str  # realistic texture; skipped for flat styles (pixel art, vector...)
    optics: str = ""  # camera cues; only with photographic media


CATEGORY_CUES: dict[str, Cues] = {
    "mammal": Cues("photograph", "eye-level shot", "natural light", "detailed fur",
                   "shallow depth of field"),
    "bird": Cues("photograph", "eye-level shot", "natural light", "detailed feathers",
                 "shallow depth of field"),
    "creature": Cues("photograph", "eye-level shot", "natural light", "fine texture detail",
                     "shallow depth of field"),
    "person": Cues("photograph", "medium shot", "soft natural light", "natural skin texture",
                   "shallow depth of field"),
    "character": Cues("digital painting", "full body, dynamic pose", "dramatic rim lighting",
                      "intricate detail"),
    "landscape": Cues("landscape photograph", "wide shot", "golden hour",
                      "atmospheric perspective", "deep focus"),
    "place": Cues("photograph", "wide angle, strong perspective", "soft evening light",
                  "fine architectural detail"),
    "food": Cues("food photograph", "close-up, 45-degree angle", "soft diffused light",
                  "appetizing texture", "shallow depth of field"),
    "vehicle": Cues("digital art", "three-quarter view", "dramatic lighting",
                    "sleek detailed surfaces"),
    "space": Cues("digital art", "vast view", "glowing light", "vivid colours, fine detail"),
    "plant": Cues("photograph", "close-up", "soft morning light", "delicate detail",
                  "shallow depth of field"),
    "design": Cues("flat vector design", "centered, plain background", "", "clean lines"),
    "thing": Cues("digital illustration", "centered composition", "soft lighting",
                  "high detail"),
}

CATEGORY_WORDS: dict[str, frozenset[str]] = {
    "mammal": frozenset(
        "cat kitten kitty dog puppy pup fox wolf bear lion tiger leopard cheetah horse pony "
        "rabbit bunny hare mouse rat hamster squirrel elephant giraffe zebra panda koala "
        "kangaroo deer moose cow pig sheep lamb goat monkey gorilla raccoon otter hedgehog "
        "sloth bat camel llama alpaca capybara".split()
    ),
    "bird": frozenset(
        "bird owl eagle hawk parrot penguin duck duckling swan goose flamingo hummingbird "
        "robin crow raven peacock pigeon seagull chick".split()
    ),
    "creature": frozenset(
        "fish whale dolphin shark octopus turtle tortoise jellyfish crab frog toad snake "
        "lizard butterfly bee ladybug spider dinosaur axolotl".split()
    ),
    "person": frozenset(
        "man woman girl boy person people child children kid kids baby family couple "
        "grandma grandpa grandmother grandfather teenager student chef doctor farmer "
        "musician dancer astronaut gardener".split()
    ),
    "character": frozenset(
        "robot dragon monster alien unicorn knight wizard witch elf dwarf fairy ghost "
        "superhero mermaid giant troll goblin phoenix cyborg android creature mascot king "
        "queen princess prince pirate ninja samurai vampire gnome yeti".split()
    ),
    "landscape": frozenset(
        "mountain mountains forest woods lake beach sea ocean desert valley river sky field "
        "meadow island waterfall canyon glacier jungle hill hills landscape countryside coast "
        "volcano cliff cliffs garden park sunset sunrise".split()
    ),
    "place": frozenset(
        "city street town village building castle house cottage cabin tower bridge skyline "
        "cathedral church temple market cafe library room kitchen bedroom interior station "
        "harbor harbour lighthouse palace ruins alley shop".split()
    ),
    "food": frozenset(
        "pizza cake burger hamburger sushi coffee tea bread fruit apple salad soup pasta "
        "cookie cookies chocolate breakfast cupcake donut doughnut pie sandwich taco ramen "
        "croissant pancakes cheese".split()
    ),
    "vehicle": frozenset(
        "car truck train ship boat plane airplane aeroplane bicycle bike motorcycle "
        "spaceship rocket bus submarine tractor sailboat zeppelin tram van".split()
    ),
    "space": frozenset(
        "galaxy nebula planet planets stars moon universe cosmos comet asteroid".split()
    ),
    "plant": frozenset(
        "flower flowers rose roses tree trees plant plants cactus sunflower tulip bonsai "
        "mushroom mushrooms leaf leaves orchid".split()
    ),
    "design": frozenset("logo icon emblem badge sticker pattern".split()),
}


@dataclass(frozen=True, slots=True)
class Medium:
    name: str  # the clause added when a follow-up asks for this medium
    pattern: str  # regex over the lower-cased text
    cues: tuple[str, ...]
    kind: str  # "photo" (camera cues fit), "paint" (texture fits), "flat" (neither)


MEDIA: tuple[Medium, ...] = (
    Medium("watercolour painting", r"water ?colou?rs?", ("soft washes", "paper texture"), "paint"),
    Medium("oil painting", r"oil paint(?:ing)?s?|in oils?\b", ("visible brushstrokes",), "paint"),
    Medium("pixel art", r"pixel ?art|8-?bit|16-?bit", ("crisp pixels", "limited palette"), "flat"),
    Medium("line art", r"line ?art|line drawing", ("clean black lines",), "flat"),
    Medium("flat vector illustration", r"vector|flat (?:design|illustration)",
           ("clean shapes", "flat colours"), "flat"),
    Medium("low poly 3D", r"low[ -]?poly", ("faceted geometry",), "flat"),
    Medium("anime style", r"anime|manga|studio ghibli|ghibli", ("cel shading",), "flat"),
    Medium("cartoon", r"cartoons?|comic(?: book)?s?|disney|pixar", ("bold outlines",), "flat"),
    Medium("3D render", r"3d(?: render)?|cgi|blender|octane|unreal engine",
           ("soft global illumination",), "photo"),
    Medium("photorealistic photograph",
           r"photo(?:graph)?s?|photo-?realistic|hyper-?realistic|realistic|dslr|35 ?mm|polaroid",
           ("sharp focus",), "photo"),
    Medium("pencil sketch", r"pencil|sketch(?:ed|es)?|graphite", ("fine graphite shading",), "paint"),
    Medium("charcoal drawing", r"charcoal", ("smudged charcoal texture",), "paint"),
    Medium("ink drawing", r"\bink\b|pen and ink", ("fine ink linework",), "paint"),
    Medium("pastel drawing", r"pastels?", ("soft pastel texture",), "paint"),
    Medium("gouache painting", r"gouache", ("matte opaque colour",), "paint"),
    Medium("acrylic painting", r"acrylics?", ("bold brushwork",), "paint"),
    Medium("impressionist painting", r"impressionis[mt]", ("loose brushwork",), "paint"),
    Medium("stained glass", r"stained glass", ("leaded outlines",), "flat"),
    Medium("claymation", r"clay(?:mation)?|plasticine", ("clay texture",), "paint"),
    Medium("origami", r"origami|papercraft|paper cut(?:out)?", ("folded paper texture",), "paint"),
    Medium("digital painting", r"digital (?:painting|art)|concept art|illustration|painting",
           ("painterly detail",), "paint"),
    Medium("drawing", r"drawing", ("clean linework",), "paint"),
)

LIGHT_WORDS = frozenset(
    "night nighttime midnight sunset sunrise dawn dusk twilight moonlight moonlit neon "
    "candlelight candlelit noon midday daylight daytime sunlight sunlit sunny starry backlit "
    "lighting light lit glow glowing evening morning dark darker brighter golden".split()
)

# Times of day a follow-up can switch to, with the clauses that replace the old light.
TIMES: dict[str, tuple[str, ...]] = {
    "night": ("at night", "moonlight"),
    "nighttime": ("at night", "moonlight"),
    "midnight": ("at midnight", "moonlight"),
    "sunset": ("at sunset", "warm golden light"),
    "sunrise": ("at sunrise", "soft pink light"),
    "dawn": ("at dawn", "soft pink light"),
    "dusk": ("at dusk", "blue hour light"),
    "twilight": ("at twilight", "blue hour light"),
    "evening": ("in the evening", "warm evening light"),
    "morning": ("in the morning", "soft morning light"),
    "noon": ("at noon", "bright daylight"),
    "midday": ("at midday", "bright daylight"),
    "day": ("in daylight", "bright daylight"),
    "daytime": ("in daylight", "bright daylight"),
    "golden hour": ("at golden hour", "warm golden light"),
}

MOODS: dict[str, tuple[str, ...]] = {
    "darker": ("dark, moody lighting",),
    "dark": ("dark, moody lighting",),
    "brighter": ("bright, cheerful lighting",),
    "bright": ("bright, cheerful lighting",),
    "lighter": ("bright, cheerful lighting",),
    "more colourful": ("vibrant colours",),
    "more colorful": ("vibrant colours",),
    "more vibrant": ("vibrant colours",),
    "more detailed": ("intricate detail",),
    "more dramatic": ("dramatic lighting",),
    "spookier": ("eerie atmosphere",),
    "cuter": ("cute, soft rounded shapes",),
}

# Colours a thing can be ("make it crimson": the thing becomes crimson).
OBJECT_COLOURS = frozenset(
    "red orange yellow green blue purple violet pink black white gold golden silver brown "
    "grey gray teal turquoise navy crimson scarlet maroon cyan magenta beige cream ivory "
    "lime olive emerald indigo lavender lilac amber tangerine cobalt sapphire ruby "
    "chocolate chestnut plum rose coral mint".split()
)
# ...and palettes ("make it pastel" changes the whole picture's colours).
COLOURS = OBJECT_COLOURS | frozenset({"pastel", "monochrome"})

CLOTHING = frozenset(
    "hat cap beanie helmet crown tiara scarf glasses sunglasses goggles cape cloak coat "
    "jacket sweater hoodie shirt dress suit tie bowtie bow boots shoes gloves mask "
    "costume armor armour backpack necklace".split()
)

DETERMINERS = frozenset(
    "a an the his her its their my your our some two three four five several many".split()
)
# Words that tie a removed phrase to the rest of the subject; they go with it. Longest first.
CONNECTOR_PHRASES: tuple[tuple[str, ...], ...] = (
    ("in", "front", "of"), ("on", "top", "of"), ("next", "to"), ("close", "to"),
    *((w,) for w in (
        "and with plus beside near behind under beneath by alongside holding riding chasing "
        "walking petting feeding hugging wearing carrying on in at of".split()
    )),
)
CONNECTORS = frozenset(p[0] for p in CONNECTOR_PHRASES if len(p) == 1) | {"next", "front", "top"}
PRONOUNS = frozenset("it this that them him her these those".split())

NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "a": 1, "an": 1}

# --- other languages ------------------------------------------------------------------------
# A gloss, not a translation: enough for common requests ("dessine un chat noir sur une
# plage") to reach the image model in English. Unknown words pass through unchanged.
_COMMON_NOUNS = {
    "fr": "chat:cat chats:cats chien:dog chiens:dogs cheval:horse oiseau:bird poisson:fish "
    "renard:fox lapin:rabbit ours:bear dragon:dragon robot:robot maison:house "
    "château:castle montagne:mountain montagnes:mountains forêt:forest mer:sea plage:beach "
    "lac:lake ville:city rue:street voiture:car bateau:boat fleur:flower fleurs:flowers "
    "arbre:tree lune:moon soleil:sun étoiles:stars ciel:sky neige:snow nuit:night "
    "chapeau:hat gâteau:cake pomme:apple femme:woman homme:man fille:girl garçon:boy "
    "enfant:child aquarelle:watercolour skateboard:skateboard jardin:garden",
    "es": "gato:cat gatos:cats perro:dog perros:dogs caballo:horse pájaro:bird pez:fish "
    "zorro:fox conejo:rabbit oso:bear dragón:dragon robot:robot casa:house "
    "castillo:castle montaña:mountain montañas:mountains bosque:forest mar:sea playa:beach "
    "lago:lake ciudad:city calle:street coche:car carro:car barco:boat flor:flower "
    "flores:flowers árbol:tree luna:moon sol:sun estrellas:stars cielo:sky nieve:snow "
    "noche:night sombrero:hat pastel:cake manzana:apple mujer:woman hombre:man niña:girl "
    "niño:boy acuarela:watercolour patineta:skateboard monopatín:skateboard jardín:garden",
    "de": "katze:cat katzen:cats hund:dog hunde:dogs pferd:horse vogel:bird fisch:fish "
    "fuchs:fox hase:rabbit kaninchen:rabbit bär:bear drache:dragon drachen:dragon "
    "roboter:robot haus:house schloss:castle burg:castle berg:mountain berge:mountains "
    "wald:forest meer:sea strand:beach see:lake stadt:city straße:street auto:car "
    "boot:boat schiff:ship blume:flower blumen:flowers baum:tree mond:moon sonne:sun "
    "sterne:stars himmel:sky schnee:snow nacht:night hut:hat kuchen:cake apfel:apple "
    "frau:woman mann:man mädchen:girl junge:boy aquarell:watercolour skateboard:skateboard "
    "garten:garden",
}
_COMMON_ADJECTIVES = {
    "fr": "rouge:red bleu:blue bleue:blue vert:green verte:green jaune:yellow noir:black "
    "noire:black blanc:white blanche:white petit:small petite:small grand:big grande:big "
    "mignon:cute mignonne:cute rouges:red bleus:blue bleues:blue verts:green vertes:green "
    "jaunes:yellow noirs:black noires:black blancs:white blanches:white",
    "es": "rojo:red roja:red azul:blue verde:green amarillo:yellow amarilla:yellow "
    "negro:black negra:black blanco:white blanca:white pequeño:small pequeña:small "
    "grande:big bonito:pretty bonita:pretty rojos:red rojas:red azules:blue verdes:green "
    "amarillos:yellow amarillas:yellow negros:black negras:black blancos:white blancas:white",
    "de": "rot:red blau:blue grün:green gelb:yellow schwarz:black weiß:white klein:small "
    "groß:big süß:cute",
}
_FUNCTION_WORDS = {
    "fr": "un:a une:a le:the la:the les:the l:the des: du: de:of d:of sur:on dans:in "
    "avec:with sous:under et:and au:at_the à:at en:in deux:two trois:three quatre:four",
    "es": "un:a una:a el:the la:the los:the las:the unos: unas: de:of del:of_the en:in "
    "sobre:on con:with y:and bajo:under al:to_the dos:two tres:three cuatro:four",
    "de": "ein:a eine:a einen:a einem:a einer:a der:the die:the das:the den:the dem:the "
    "auf:on im:in_the in:in mit:with und:and unter:under von:of vom:of_the bei:at am:at_the "
    "zwei:two drei:three vier:four",
}


def _table(spec: str) -> dict[str, str]:
    pairs = (item.split(":", 1) for item in spec.split())
    return {src: dst.replace("_", " ") for src, dst in pairs}


GLOSS_NOUNS = {lang: _table(spec) for lang, spec in _COMMON_NOUNS.items()}
GLOSS_ADJECTIVES = {lang: _table(spec) for lang, spec in _COMMON_ADJECTIVES.items()}
GLOSS_WORDS = {lang: _table(spec) for lang, spec in _FUNCTION_WORDS.items()}
# French and Spanish put most adjectives after the noun; English wants them before.
ADJECTIVE_AFTER_NOUN = frozenset({"fr", "es"})
