"""mhpipe's own Presidio recognizers for chat text (people type in lower case, give
nicknames, handles and phone numbers in every format).

Presidio style: what a recognizer looks for is data (`PATTERNS`, `CONTEXT`, word lists from
maintained packages in `wordlists`); checksums and digit rules live in `validate_result`.
Every class is registered with Presidio's registry by name from `deid_recognizers.yaml`
(`type: predefined`), so importing this package is enough.

- `names`: people (gazetteer and rarity, cue phrases);
- `places`: places, facilities, saints, organisations;
- `numbers`: phones (also in words), street addresses, postcodes, ZIP codes;
- `dates_ids`: ages, dates (never durations), case/record/reference numbers;
- `online`: URLs, handles, e-mail addresses (also spelled out).
"""

from __future__ import annotations

from typing import Iterable

from pipeline.deid.recognizers.dates_ids import AgeRecognizer, ChatDateRecognizer, FullDateRecognizer, RecordNumberRecognizer
from pipeline.deid.recognizers.names import NameGazetteerRecognizer, SelfIntroductionRecognizer
from pipeline.deid.recognizers.numbers import (ChatPhoneRecognizer, ChatUkPostcodeRecognizer, GatedPhoneRecognizer,
                      SpelledPhoneRecognizer, StreetAddressRecognizer, UsZipRecognizer)
from pipeline.deid.recognizers.online import (ChatEmailRecognizer, ChatUrlRecognizer, HandleRecognizer,
                     SpelledEmailRecognizer)
from pipeline.deid.recognizers.places import (AreaRecognizer, FacilityRecognizer, OrganisationRecognizer, PlaceGazetteerRecognizer,
                     SaintRecognizer)
from pipeline.deid.recognizers.wordlists import first_and_last_names, fold, nickname_stems, place_names, region_codes, zipf


def all_recognizer_classes() -> Iterable[type]:
    return (NameGazetteerRecognizer, SelfIntroductionRecognizer, PlaceGazetteerRecognizer,
            FacilityRecognizer, SaintRecognizer, OrganisationRecognizer, AreaRecognizer,
            GatedPhoneRecognizer, ChatPhoneRecognizer, SpelledPhoneRecognizer,
            ChatUrlRecognizer, ChatEmailRecognizer, SpelledEmailRecognizer,
            StreetAddressRecognizer, ChatUkPostcodeRecognizer, UsZipRecognizer,
            HandleRecognizer, AgeRecognizer, ChatDateRecognizer, RecordNumberRecognizer)


__all__ = [c.__name__ for c in all_recognizer_classes()] + [
    "FullDateRecognizer", "all_recognizer_classes", "first_and_last_names", "fold",
    "nickname_stems", "place_names", "region_codes", "zipf"]
