"""Controlled vocabularies for generalising structured profile fields (data only, no logic).

`pipeline/intake/generalise.py` applies these tables. Every free-text key and keyword below is in
*normal form*: lower case, every run of characters that is not a letter or digit replaced by
one space, no leading or trailing space ("Non-Binary." -> "non binary", "n/a" -> "n a").
The tests check that each key is already in normal form.
"""

from __future__ import annotations

NOT_STATED = "not stated"

# --- Postcode area -> ONS region / nation ----------------------------------------------------
# All 121 UK postcode areas, plus the three Crown dependencies. An area that straddles
# regions goes to the region holding most of its population:
#   CH  Wirral, Chester (Deeside is in Wales)            -> North West
#   DA  Dartford, Gravesend (Bexley is in London)        -> South East (close call)
#   DL  Darlington, Co Durham (Richmondshire: Yorks)     -> North East
#   DN  Doncaster, N and NE Lincs (Gainsborough: EM)     -> Yorkshire and The Humber
#   EN  Enfield, Barnet (Cheshunt, Hoddesdon: Herts)     -> London
#   HP  High Wycombe, Aylesbury (Hemel Hempstead: Herts) -> South East
#   IG  Ilford, Barking (Loughton, Chigwell: Essex)      -> London
#   KT  Epsom, Walton, Esher (Kingston is in London)     -> South East
#   MK  Milton Keynes (Bedford: East of England)         -> South East
#   PE  Peterborough, Cambs, King's Lynn (S Lincs: EM)   -> East of England
#   RM  Romford, Dagenham (Thurrock: Essex)              -> London
#   S   Sheffield, Rotherham (Chesterfield, Worksop: EM) -> Yorkshire and The Humber
#   SK  Stockport (High Peak: East Midlands)             -> North West
#   SP  Salisbury (Andover: Hampshire)                   -> South West
#   SY  Shrewsbury, Shropshire (mid Wales)               -> West Midlands
#   TD  Scottish Borders (Berwick-upon-Tweed: NE)        -> Scotland
#   TW  Twickenham, Hounslow (Staines: Surrey)           -> London
# Non-geographic or non-UK prefixes (BF/BFPO, GIR, GX Gibraltar, overseas territories) are not
# listed, so they generalise to "not stated".
REGIONS = (
    "North East", "North West", "Yorkshire and The Humber", "East Midlands", "West Midlands",
    "East of England", "London", "South East", "South West", "Wales", "Scotland",
    "Northern Ireland", "Other UK",
)

POSTCODE_AREA_REGION: dict[str, str] = {
    # North East
    "DH": "North East", "DL": "North East", "NE": "North East", "SR": "North East",
    "TS": "North East",
    # North West
    "BB": "North West", "BL": "North West", "CA": "North West", "CH": "North West",
    "CW": "North West", "FY": "North West", "L": "North West", "LA": "North West",
    "M": "North West", "OL": "North West", "PR": "North West", "SK": "North West",
    "WA": "North West", "WN": "North West",
    # Yorkshire and The Humber
    "BD": "Yorkshire and The Humber", "DN": "Yorkshire and The Humber",
    "HD": "Yorkshire and The Humber", "HG": "Yorkshire and The Humber",
    "HU": "Yorkshire and The Humber", "HX": "Yorkshire and The Humber",
    "LS": "Yorkshire and The Humber", "S": "Yorkshire and The Humber",
    "WF": "Yorkshire and The Humber", "YO": "Yorkshire and The Humber",
    # East Midlands
    "DE": "East Midlands", "LE": "East Midlands", "LN": "East Midlands", "NG": "East Midlands",
    "NN": "East Midlands",
    # West Midlands
    "B": "West Midlands", "CV": "West Midlands", "DY": "West Midlands", "HR": "West Midlands",
    "ST": "West Midlands", "SY": "West Midlands", "TF": "West Midlands", "WR": "West Midlands",
    "WS": "West Midlands", "WV": "West Midlands",
    # East of England
    "AL": "East of England", "CB": "East of England", "CM": "East of England",
    "CO": "East of England", "IP": "East of England", "LU": "East of England",
    "NR": "East of England", "PE": "East of England", "SG": "East of England",
    "SS": "East of England", "WD": "East of England",
    # London
    "BR": "London", "CR": "London", "E": "London", "EC": "London", "EN": "London",
    "HA": "London", "IG": "London", "N": "London", "NW": "London", "RM": "London",
    "SE": "London", "SM": "London", "SW": "London", "TW": "London", "UB": "London",
    "W": "London", "WC": "London",
    # South East
    "BN": "South East", "CT": "South East", "DA": "South East", "GU": "South East",
    "HP": "South East", "KT": "South East", "ME": "South East", "MK": "South East",
    "OX": "South East", "PO": "South East", "RG": "South East", "RH": "South East",
    "SL": "South East", "SO": "South East", "TN": "South East",
    # South West
    "BA": "South West", "BH": "South West", "BS": "South West", "DT": "South West",
    "EX": "South West", "GL": "South West", "PL": "South West", "SN": "South West",
    "SP": "South West", "TA": "South West", "TQ": "South West", "TR": "South West",
    # Wales
    "CF": "Wales", "LD": "Wales", "LL": "Wales", "NP": "Wales", "SA": "Wales",
    # Scotland
    "AB": "Scotland", "DD": "Scotland", "DG": "Scotland", "EH": "Scotland", "FK": "Scotland",
    "G": "Scotland", "HS": "Scotland", "IV": "Scotland", "KA": "Scotland", "KW": "Scotland",
    "KY": "Scotland", "ML": "Scotland", "PA": "Scotland", "PH": "Scotland", "TD": "Scotland",
    "ZE": "Scotland",
    # Northern Ireland
    "BT": "Northern Ireland",
    # Crown dependencies (Guernsey, Jersey, Isle of Man)
    "GY": "Other UK", "JE": "Other UK", "IM": "Other UK",
}

# --- Gender -----------------------------------------------------------------------------------
GENDER_GROUPS = ("female", "male", "non-binary", "other", NOT_STATED)

# Exact (normalised) answers that mean "did not say". Shared by gender and ethnicity.
NOT_STATED_ANSWERS = (
    "", "prefer not to say", "prefer not to answer", "prefer not to state", "rather not say",
    "not stated", "not specified", "not known", "unknown", "declined", "n a", "na",
)

# Normalised answer -> group. Anything not listed (e.g. "agender", "genderfluid") -> "other".
GENDER_SYNONYMS: dict[str, str] = {
    **{k: "female" for k in (
        "female", "f", "woman", "girl", "lady", "trans woman", "transwoman", "trans female",
        "transgender woman", "transgender female", "cis woman", "cis female", "cisgender woman",
        "cisgender female",
    )},
    **{k: "male" for k in (
        "male", "m", "man", "boy", "trans man", "transman", "trans male", "transgender man",
        "transgender male", "cis man", "cis male", "cisgender man", "cisgender male",
    )},
    **{k: "non-binary" for k in (
        "non binary", "nonbinary", "nb", "enby", "genderqueer", "gender queer",
    )},
    **{k: NOT_STATED for k in NOT_STATED_ANSWERS},
}

# --- Ethnicity (ONS 2021 high-level groups) ---------------------------------------------------
ASIAN = "Asian or Asian British"
BLACK = "Black, Black British, Caribbean or African"
MIXED = "Mixed or Multiple"
WHITE = "White"
OTHER_ETHNIC = "Other ethnic group"
ETHNICITY_GROUPS = (ASIAN, BLACK, MIXED, WHITE, OTHER_ETHNIC, NOT_STATED)

MIXED_WORDS = ("mixed", "multiple", "multiracial", "multi racial", "multiethnic",
               "multi ethnic", "biracial", "bi racial", "dual heritage", "half")
ASIAN_WORDS = ("asian", "indian", "pakistani", "bangladeshi", "chinese", "sri lankan",
               "tamil", "nepali", "nepalese", "bengali", "punjabi", "kashmiri", "gujarati",
               "filipino", "filipina", "japanese", "korean", "vietnamese", "thai", "malaysian")
BLACK_WORDS = ("black", "african", "caribbean", "west indian", "nigerian", "ghanaian", "somali",
               "jamaican")
OTHER_ETHNIC_WORDS = ("arab", "latin american", "latino", "latina", "hispanic")
WHITE_WORDS = ("white", "british", "english", "welsh", "scottish", "irish", "gypsy",
               "traveller", "roma", "romany", "caucasian", "european", "polish", "romanian")

# Ordered rules; the first that matches wins. A rule is (group, any_of, and_any_of): it matches
# when the normalised answer contains a whole word or phrase from `any_of` and, if `and_any_of`
# is not empty, also one from `and_any_of`.
#   0. (in generalise.py) null or an answer in NOT_STATED_ANSWERS -> "not stated"
#   1. a mixed keyword                                  "Mixed - White and Asian"
#   2. "white" with "black" or an Asian keyword         "White and Black Caribbean" (ONS Mixed)
#   3. "black" with an Asian keyword                    "Black and Asian"
#   4. "white" on its own                               "Any other White background"
#   5. "west indian" (Caribbean, not Indian)
#   6. an Asian keyword                                 "British Indian", "East African Asian"
#   7. a Black keyword                                  "Black British", "Nigerian"
#   8. an Other keyword, before the White nationality words: "British Arab" -> Other
#   9. a White keyword                                  "British", "Irish Traveller"
#  10. (in generalise.py) anything else, including "other" -> "Other ethnic group"
ETHNICITY_RULES: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    (MIXED, MIXED_WORDS, ()),
    (MIXED, ("white",), ("black",) + ASIAN_WORDS),
    (MIXED, ("black",), ASIAN_WORDS),
    (WHITE, ("white",), ()),
    (BLACK, ("west indian",), ()),
    (ASIAN, ASIAN_WORDS, ()),
    (BLACK, BLACK_WORDS, ()),
    (OTHER_ETHNIC, OTHER_ETHNIC_WORDS, ()),
    (WHITE, WHITE_WORDS, ()),
)

# --- Language -----------------------------------------------------------------------------------
# Self-reported main language -> one of LANGUAGE_GROUPS: the most common main languages of
# England and Wales (ONS Census 2021, TS024), British Sign Language, "other" and "not stated".
# Only a whole answer that is a language's English name, its own name (endonym), its ISO 639-1
# or 639-3 code, or a BCP 47 tag starting with that code ("en-GB" -> "en gb") is recognised;
# anything else, however close, is "other": a free-text answer never becomes a label.
OTHER_LANGUAGE = "other"
LANGUAGE_SYNONYMS = {
    "English": ("english", "en", "eng", "en gb", "en us", "en ie", "en au", "en ca", "en in"),
    "Welsh": ("welsh", "cymraeg", "cy", "cym", "wel", "cy gb"),
    "Scottish Gaelic": ("scottish gaelic", "gaelic", "gàidhlig", "gd", "gla"),
    "Irish": ("irish", "gaeilge", "ga", "gle"),
    "Polish": ("polish", "polski", "pl", "pol", "pl pl"),
    "Romanian": ("romanian", "română", "romana", "ro", "ron", "rum", "ro ro"),
    "Panjabi": ("panjabi", "punjabi", "ਪੰਜਾਬੀ", "pa", "pan", "pa in", "pa pk"),
    "Urdu": ("urdu", "اردو", "ur", "urd", "ur pk", "ur in"),
    "Portuguese": ("portuguese", "português", "portugues", "pt", "por", "pt pt", "pt br"),
    "Spanish": ("spanish", "español", "espanol", "castellano", "es", "spa", "es es", "es mx"),
    "Arabic": ("arabic", "العربية", "ar", "ara"),
    "Bengali": ("bengali", "bangla", "sylheti", "বাংলা", "bn", "ben", "bn bd", "bn in"),
    "Gujarati": ("gujarati", "ગુજરાતી", "gu", "guj", "gu in"),
    "Italian": ("italian", "italiano", "it", "ita", "it it"),
    "Chinese": ("chinese", "mandarin", "cantonese", "中文", "普通话", "廣東話", "zh", "zho", "chi",
                "cmn", "yue", "zh cn", "zh hk", "zh tw"),
    "Lithuanian": ("lithuanian", "lietuvių", "lt", "lit", "lt lt"),
    "French": ("french", "français", "francais", "fr", "fra", "fre", "fr fr"),
    "Tamil": ("tamil", "தமிழ்", "ta", "tam", "ta in", "ta lk"),
    "Turkish": ("turkish", "türkçe", "turkce", "tr", "tur", "tr tr"),
    "Bulgarian": ("bulgarian", "български", "bg", "bul", "bg bg"),
    "Persian": ("persian", "farsi", "dari", "فارسی", "fa", "fas", "per", "prs", "fa ir"),
    "Russian": ("russian", "русский", "ru", "rus", "ru ru"),
    "Ukrainian": ("ukrainian", "українська", "uk", "ukr", "uk ua"),
    "German": ("german", "deutsch", "de", "deu", "ger", "de de"),
    "Hungarian": ("hungarian", "magyar", "hu", "hun", "hu hu"),
    "Somali": ("somali", "soomaali", "so", "som"),
    "Hindi": ("hindi", "हिन्दी", "hi", "hin", "hi in"),
    "Pashto": ("pashto", "pushto", "پښتو", "ps", "pus"),
    "Kurdish": ("kurdish", "kurdî", "kurdi", "ku", "kur", "ckb", "kmr", "sorani", "kurmanji"),
    "Greek": ("greek", "ελληνικά", "el", "ell", "gre", "el gr"),
    "Tigrinya": ("tigrinya", "ትግርኛ", "ti", "tir"),
    "British Sign Language": ("british sign language", "bsl", "bfi"),
}
LANGUAGE_GROUPS = (*LANGUAGE_SYNONYMS, OTHER_LANGUAGE, NOT_STATED)
LANGUAGE_LOOKUP = {syn: name for name, syns in LANGUAGE_SYNONYMS.items() for syn in syns}
