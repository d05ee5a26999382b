"""Custom NLU components of the multilingual pipeline (config.yml).

- ``TextNormalizer`` runs first and rewrites the message text with ``telehealth.text.normalize``
  (digits, letter variants, zero-width characters), in training and at prediction time.
- ``LanguageDetector`` guesses the locale of a free-text message: the script decides between
  the Latin locales (en, ur-Latn) and the Perso-Arabic ones (ur, pa, ps, sd, bal, ks); inside a
  script a character n-gram logistic regression, trained on the NLU examples themselves (each
  block carries ``metadata: {locale: …}``), decides. Character n-grams catch the letters and
  endings that tell the languages apart (ښ ګ ې in Pashto, ڪ ۾ in Sindhi, "hai"/"mujhe" in
  Roman Urdu) and survive misspellings; the model is small (kilobytes) and trains in seconds.
- ``RuleIntentClassifier`` decides two cases no statistical model should guess: a bare menu
  number ("2", "۲", "option 3") is ``select_option`` with the entity ``option`` (only the menu
  last shown gives it a meaning, ``actions/menu.py``); a message without a letter of a script we
  serve (only emoji, Devanagari, Chinese…) is ``nlu_fallback``, answered politely in the
  user's current language.
- ``LogisticRegressionClassifier`` is Rasa's, with each featurizer's counts TF-IDF weighted
  and the regularisation configurable (see there).
- ``FallbackClassifier`` is Rasa's, and also falls back on a FAQ question whose answer the
  response selector is unsure of (below ``faq_threshold``).
- ``LogisticRegressionResponseSelector`` chooses the FAQ topic with the same model, in place of
  Rasa's ResponseSelector (see there).
- ``CompactParseData`` (with Rasa's ResponseSelector, as in config-alternatives/diet.yml) runs
  last and drops from the parse result what nothing reads: the texts of the selected FAQ answer
  in every locale (``response_selector.<key>.response.responses``; Rasa answers from the domain by
  ``utter_action``). They were 15 KB of a 16 KB question event, stored in the tracker and sent to
  the action server on every later action call. ``LogisticRegressionResponseSelector`` does not
  put them in.
"""
from __future__ import annotations

import logging
import re
import warnings
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.shared.constants import INTENT_MESSAGE_PREFIX
from rasa.nlu.classifiers.fallback_classifier import FallbackClassifier as RasaFallbackClassifier
from rasa.nlu.classifiers.logistic_regression_classifier import (
    LogisticRegressionClassifier as RasaLogisticRegressionClassifier,
)
from rasa.nlu.constants import (
    RESPONSE_SELECTOR_PREDICTION_KEY,
    RESPONSE_SELECTOR_PROPERTY_NAME,
    RESPONSE_SELECTOR_RANKING_KEY,
    RESPONSE_SELECTOR_RESPONSES_KEY,
    RESPONSE_SELECTOR_RETRIEVAL_INTENTS,
    RESPONSE_SELECTOR_UTTER_ACTION_KEY,
)
from rasa.shared.nlu.training_data.util import intent_response_key_to_template_key
from rasa.shared.nlu.constants import (
    ENTITIES,
    FEATURE_TYPE_SENTENCE,
    INTENT,
    INTENT_RANKING_KEY,
    INTENT_RESPONSE_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from telehealth import rasa_runtime  # noqa: F401  (removes repeated work in the Rasa server; see there)
from telehealth.text import dominant_script, normalize

logger = logging.getLogger(__name__)

LANGUAGE_DETECTION = "language_detection"
LATIN_LOCALES = ("en", "ur-Latn")


class StatelessComponent(GraphComponent):
    """A component with nothing to configure, train or load."""

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "StatelessComponent":
        return cls()


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class TextNormalizer(StatelessComponent):
    """Normalises the text of every message before tokenisation."""

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        for message in training_data.training_examples:
            self._normalize(message)
        return training_data

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            self._normalize(message)
        return messages

    @staticmethod
    def _normalize(message: Message) -> None:
        text = message.get(TEXT)
        # "/intent{...}" button payloads pass through the pipeline too: keep them exact.
        if text and not text.startswith(INTENT_MESSAGE_PREFIX):
            message.set(TEXT, normalize(text))


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LanguageDetector(GraphComponent):
    """Adds ``language_detection: {locale, confidence, script}`` to the parse result."""

    _TRUSTED = ["scipy.sparse._csr.csr_matrix"]

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {"ngram_max": 4, "random_state": 42, "metadata_key": "locale"}

    def __init__(
        self,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        models: Optional[Dict[Text, Any]] = None,
    ) -> None:
        self.config = {**self.get_default_config(), **config}
        self._model_storage = model_storage
        self._resource = resource
        self.models: Dict[Text, Any] = models or {}

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "LanguageDetector":
        return cls(config, model_storage, resource)

    def _new_model(self) -> Any:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline

        return make_pipeline(
            TfidfVectorizer(
                analyzer="char_wb", ngram_range=(1, self.config["ngram_max"]), sublinear_tf=True
            ),
            LogisticRegression(
                C=10.0, max_iter=2000, class_weight="balanced", random_state=self.config["random_state"]
            ),
        )

    def train(self, training_data: TrainingData) -> Resource:
        by_script: Dict[Text, tuple[list, list]] = {"latin": ([], []), "arabic": ([], [])}
        key = self.config["metadata_key"]
        for example in training_data.intent_examples:
            locale = _example_locale(example, key)
            text = example.get(TEXT)
            script = dominant_script(text or "")
            if not locale or not script:
                continue
            # A Latin-script example in a Perso-Arabic locale (a code-mixed "corona test") says
            # nothing about the locale: learn each script's locales from that script only.
            if (script == "latin") != (locale in LATIN_LOCALES):
                continue
            by_script[script][0].append(text)
            by_script[script][1].append(locale)
        for script, (texts, labels) in by_script.items():
            if len(set(labels)) >= 2:
                model = self._new_model()
                model.fit(texts, labels)
                self.models[script] = model
            elif labels:
                self.models[script] = labels[0]
        self.persist()
        return self._resource

    def detect(self, text: Text) -> Dict[Text, Any]:
        script = dominant_script(text or "")
        model = self.models.get(script) if script else None
        if model is None:
            return {"locale": None, "confidence": 0.0, "script": script}
        if isinstance(model, str):
            return {"locale": model, "confidence": 1.0, "script": script}
        probabilities = model.predict_proba([text])[0]
        best = int(probabilities.argmax())
        return {
            "locale": str(model.classes_[best]),
            "confidence": round(float(probabilities[best]), 4),
            "script": script,
        }

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT)
            # A button payload says nothing about the user's language.
            if text and not text.startswith(INTENT_MESSAGE_PREFIX):
                message.set(LANGUAGE_DETECTION, self.detect(text), add_to_output=True)
        return messages

    def persist(self) -> None:
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as directory:
            for script, model in self.models.items():
                if isinstance(model, str):
                    (directory / f"{script}.label").write_text(model, encoding="utf-8")
                else:
                    sio.dump(model, directory / f"{script}.skops")

    @classmethod
    def load(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> "LanguageDetector":
        import skops.io as sio

        models: Dict[Text, Any] = {}
        try:
            with model_storage.read_from(resource) as directory:
                for path in directory.glob("*.skops"):
                    models[path.stem] = sio.load(path, trusted=cls._TRUSTED)
                for path in directory.glob("*.label"):
                    models[path.stem] = path.read_text(encoding="utf-8")
        except ValueError:
            logger.warning("LanguageDetector has no trained model; locale guessing is off.")
        return cls(config, model_storage, resource, models)


def _example_locale(example: Message, key: Text) -> Optional[Text]:
    metadata = example.get("metadata") or {}
    for level in ("example", "intent"):
        value = metadata.get(level)
        if isinstance(value, dict) and value.get(key):
            return value[key]
    return metadata.get(key)


_OPTION = re.compile(r"^\s*(?:option|number|no\.?|num|#)?\s*(\d{1,2})\s*[.)\-]?\s*$")


#: Words a message may hold besides a phone number and still be just "here is my number".
PHONE_MESSAGE_MAX_WORDS = 5


def is_phone_number_message(text: Optional[Text]) -> bool:
    """A message that gives a phone number ("0300 1234567", "mera number +92 321 7654321 hai")."""
    from telehealth.phones import parse_phone

    if not text or not parse_phone(text):
        return False
    words = [w for w in re.split(r"\s+", re.sub(r"[+\d()./-]+", " ", text)) if w]
    return len(words) <= PHONE_MESSAGE_MAX_WORDS


def parse_option(text: Optional[Text]) -> Optional[int]:
    """The menu number a message consists of ("2", "2.", "option 3" after normalisation), else None."""
    match = _OPTION.match(text or "")
    return int(match.group(1)) if match else None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class RuleIntentClassifier(StatelessComponent):
    """Menu numbers are ``select_option``; a phone number is ``give_phone_number``; messages in no
    script we serve are ``nlu_fallback``."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            text = message.get(TEXT) or ""
            number = parse_option(text)
            if number is None and is_phone_number_message(text):
                intent = {"name": "give_phone_number", "confidence": 1.0}
                message.set(INTENT, intent, add_to_output=True)
                message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
                continue
            if number is None:
                if dominant_script(text) is None:
                    fallback = {"name": "nlu_fallback", "confidence": 1.0}
                    message.set(INTENT, fallback, add_to_output=True)
                    message.set(INTENT_RANKING_KEY, [fallback], add_to_output=True)
                continue
            intent = {"name": "select_option", "confidence": 1.0}
            message.set(INTENT, intent, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [intent], add_to_output=True)
            entities = [e for e in message.get(ENTITIES, []) if e.get("entity") != "option"]
            start = text.find(str(number))
            entities.append(
                {
                    "entity": "option",
                    "value": str(number),
                    "start": start,
                    "end": start + len(str(number)),
                    "confidence_entity": 1.0,
                    "extractor": "RuleIntentClassifier",
                }
            )
            message.set(ENTITIES, entities, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class SymptomExtractor(GraphComponent):
    """Symptoms (and denied ones), warning signs, durations and ages from free text, in every locale.

    A thin wrapper around ``telehealth.symptoms.extract`` (spaCy PhraseMatcher over the per-locale
    lexicons in ``telehealth/lexicons``). Entities: ``symptom``, ``symptom_absent``,
    ``warning_sign`` (canonical names as values), ``duration_days`` and ``age`` (numbers as text).

    A warning sign (not denied, not asked about) makes the message an ``emergency`` whatever
    the classifier guessed ("saans nahi aa rahi" looks like ``deny`` to the intent classifier): the lexicons are
    written for exactly these phrases in every locale, and an emergency is answered first.
    Menu answers and phone numbers keep their intent.
    """

    @classmethod
    def create(
        cls,
        config: Dict[Text, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> "SymptomExtractor":
        from telehealth.symptoms import lexicon

        lexicon()  # compile the matchers once, at load time
        return cls()

    def process(self, messages: List[Message]) -> List[Message]:
        from telehealth.symptoms import extract

        for message in messages:
            text = message.get(TEXT) or ""
            if not text or text.startswith(INTENT_MESSAGE_PREFIX):
                continue
            found = extract(text)
            if not found.spans:
                continue
            entities = list(message.get(ENTITIES, []))
            for start, end, entity, value in found.spans:
                entities.append(
                    {
                        "entity": entity,
                        "value": value,
                        "start": start,
                        "end": end,
                        "confidence_entity": 1.0,
                        "extractor": "SymptomExtractor",
                    }
                )
            message.set(ENTITIES, entities, add_to_output=True)
            if found.warning:
                self._emergency(message)
        return messages

    @staticmethod
    def _emergency(message: Message) -> None:
        if (message.get(INTENT) or {}).get("name") in _KEEPS_INTENT_OVER_WARNING:
            return
        top = {"name": EMERGENCY_INTENT, "confidence": 1.0}
        ranking = message.get(INTENT_RANKING_KEY) or []
        others = [r for r in ranking if r.get("name") != EMERGENCY_INTENT][: max(len(ranking) - 1, 0)]
        message.set(INTENT, top, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [top] + others, add_to_output=True)


EMERGENCY_INTENT = "emergency"
#: Intents a warning sign in the text does not override (they are not free text).
_KEEPS_INTENT_OVER_WARNING = {EMERGENCY_INTENT, "select_option", "give_phone_number"}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class CompactParseData(StatelessComponent):
    """Drops the selected answer's texts from the response selector's output (see the module doc)."""

    def process(self, messages: List[Message]) -> List[Message]:
        for message in messages:
            selectors = message.get(RESPONSE_SELECTOR_PROPERTY_NAME)
            if not isinstance(selectors, dict):
                continue
            for key, selected in selectors.items():
                if isinstance(selected, dict) and isinstance(selected.get("response"), dict):
                    selected["response"].pop(RESPONSE_SELECTOR_RESPONSES_KEY, None)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LogisticRegressionClassifier(RasaLogisticRegressionClassifier):
    """Rasa's logistic regression intent classifier, with the features weighted as text
    classifiers weight them and the regularisation strength ``C`` configurable.

    Rasa's gives the regression the featurizers' raw counts: a long message weighs more than a
    short one, "covid" (in half the examples) as much as "saans" (in the emergency ones), and
    the word featurizer's few columns as much as the character featurizer's many. Here each
    featurizer's sentence counts are TF-IDF weighted on their own (sublinear tf, idf learnt from
    the training examples, unit length), then joined; with that, ``C`` 20 (Rasa's is 1, too
    strong once the features are unit length). Chosen by 5-fold cross-validation, macro intent
    F1 per locale (README: NLU). ``tfidf: false`` gives Rasa's behaviour back."""

    IDF_FILE = "idf.skops"

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**RasaLogisticRegressionClassifier.get_default_config(), "C": 20.0, "tfidf": True}

    def __init__(self, config: Dict[Text, Any], name: Text, model_storage: ModelStorage, resource: Resource) -> None:
        super().__init__(config, name, model_storage, resource)
        self.clf.set_params(C=self.config["C"])
        self._set_weights([])

    @staticmethod
    def _blocks(messages: List[Message]) -> List[Any]:
        """Each featurizer's sentence counts as one matrix (a row per message), in pipeline order."""
        from scipy.sparse import csr_matrix, vstack

        per_message = [
            [f.features for f in m.features if f.attribute == TEXT and f.is_sparse() and f.type == FEATURE_TYPE_SENTENCE]
            for m in messages
        ]
        if len(per_message) == 1:  # the server's case: one message per parse
            return [csr_matrix(features) for features in per_message[0]]
        return [vstack([csr_matrix(row[i]) for row in per_message]).tocsr() for i in range(len(per_message[0]))]

    @staticmethod
    def _transformer(idf: Any = None) -> Any:
        from sklearn.feature_extraction.text import TfidfTransformer

        weights = TfidfTransformer(sublinear_tf=True)
        if idf is not None:
            weights.idf_ = idf
        return weights

    def _examples(self, training_data: TrainingData) -> Tuple[List[Message], List[Text]]:
        """The examples to learn from and their labels: every intent example, by intent."""
        examples = [e for e in training_data.intent_examples if e.get(INTENT) and e.get(TEXT)]
        return examples, [e.get(INTENT) for e in examples]

    def _create_training_matrix(self, training_data: TrainingData) -> Tuple[Any, List[Text]]:
        from scipy.sparse import csr_matrix

        examples, labels = self._examples(training_data)
        if not examples:
            return csr_matrix((0, 0)), []
        if not self.config["tfidf"]:
            return super()._create_X(examples), labels
        blocks = self._blocks(examples)
        # the idf is learnt here, from the training examples, never at prediction
        self._set_weights([self._transformer().fit(block) for block in blocks])
        return self._weighted(blocks), labels

    def _create_X(self, messages: List[Message]) -> Any:
        if not self.config["tfidf"] or not messages:
            return super()._create_X(messages)
        return self._weighted(self._blocks(messages))

    def _set_weights(self, weights: List[Any]) -> None:
        """One sklearn TfidfTransformer per featurizer (fitted in training, or rebuilt from the
        stored idf at load), and their idf vectors (``idf_`` is a property sklearn recomputes at
        every read)."""
        import numpy as np

        self.weights = weights
        self._idfs = [np.asarray(w.idf_, dtype=np.float64) for w in weights]

    def _weighted(self, blocks: List[Any]) -> Any:
        from scipy.sparse import hstack

        if blocks and blocks[0].shape[0] == 1:
            return self._weighted_row(blocks)
        return hstack([w.transform(block) for w, block in zip(self.weights, blocks)]).tocsr()

    def _weighted_row(self, blocks: List[Any]) -> Any:
        """One message (the server parses one at a time): ``TfidfTransformer.transform``'s
        arithmetic (1 + log tf, times idf, unit length) on the row's arrays, then the blocks side
        by side. The same numbers as the transformers and ``hstack`` (tested); what it skips is
        their per-call checks and copies, which under load cost more than the regression itself."""
        import numpy as np
        from scipy.sparse import csr_matrix

        data, columns, offset = [], [], 0
        for idf, block in zip(self._idfs, blocks):
            values = np.log(block.data.astype(np.float64)) + 1.0
            values *= idf[block.indices]
            norm = np.sqrt(values @ values)
            if norm > 0:
                values /= norm
            data.append(values)
            columns.append(block.indices + offset)
            offset += block.shape[1]
        values = np.concatenate(data)
        return csr_matrix((values, np.concatenate(columns), np.array([0, len(values)])), shape=(1, offset))

    def train(self, training_data: TrainingData) -> Resource:
        resource = super().train(training_data)
        self._column_major()
        return resource

    def _column_major(self) -> None:
        """The coefficients in column-major order. scikit-learn scores ``X @ coef_.T``; with
        ``coef_`` row-major that transpose is not contiguous and scipy copies the whole matrix
        (classes x features, 5 MB here) for every message it scores. The same numbers."""
        import numpy as np

        if hasattr(self.clf, "coef_"):
            self.clf.coef_ = np.asfortranarray(self.clf.coef_)

    def persist(self) -> None:
        super().persist()
        import skops.io as sio

        with self._model_storage.write_to(self._resource) as model_dir:
            sio.dump(self._idfs, model_dir / self.IDF_FILE)

    @classmethod
    def load(cls, config: Dict[Text, Any], model_storage: ModelStorage, resource: Resource,
             execution_context: ExecutionContext, **kwargs: Any) -> "LogisticRegressionClassifier":
        import skops.io as sio

        component = super().load(config, model_storage, resource, execution_context, **kwargs)
        if component.config["tfidf"]:
            try:
                with model_storage.read_from(resource) as model_dir:
                    # numpy arrays only; skops refuses a file with any other type (trusted=False)
                    idfs = sio.load(model_dir / cls.IDF_FILE, trusted=False)
            except ValueError:  # nothing was trained (no examples): as Rasa's, untrained
                idfs = []
            component._set_weights([cls._transformer(idf) for idf in idfs])
        component._column_major()
        return component


# Rasa warns that examples of a retrieval intent need its ResponseSelector (an exact type check);
# the selector below reads them.
warnings.filterwarnings("ignore", message="You have defined training data with examples for training a response selector")


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LogisticRegressionResponseSelector(LogisticRegressionClassifier):
    """Chooses the answer of a retrieval intent (the FAQ topic: ``faq/symptoms``, ``faq/vaccine``…)
    as Rasa's ResponseSelector does, with the same TF-IDF logistic regression as the intents.

    It puts the same output in the parse result (``response_selector.faq.response``:
    ``intent_response_key``, ``utter_action``, ``confidence``; ``ranking``), which is what Rasa's
    ``action_retrieve_response``, ``rasa test`` and the FAQ fallback read. Against the
    ResponseSelector (a neural network, 40 epochs): fewer topics confused in cross-validation,
    trained in seconds, and no TensorFlow model in the Rasa process (README: NLU, make bench)."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "retrieval_intent": "faq"}

    def _examples(self, training_data: TrainingData) -> Tuple[List[Message], List[Text]]:
        retrieval_intent = self.config["retrieval_intent"]
        examples = [
            e for e in training_data.intent_examples
            if e.get(INTENT) == retrieval_intent and e.get(INTENT_RESPONSE_KEY) and e.get(TEXT)
        ]
        return examples, [e.get(INTENT_RESPONSE_KEY) for e in examples]

    def process(self, messages: List[Message]) -> List[Message]:
        if not messages or not hasattr(self.clf, "classes_"):  # untrained: no examples
            return messages
        probabilities = self.clf.predict_proba(self._create_X(messages))
        keys = self.clf.classes_
        for message, row in zip(messages, probabilities):
            order = row.argsort()[::-1]
            if self.config["ranking_length"] > 0:
                order = order[: self.config["ranking_length"]]
            best = str(keys[order[0]])
            properties = message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}
            properties[RESPONSE_SELECTOR_RETRIEVAL_INTENTS] = [self.config["retrieval_intent"]]
            properties[self.config["retrieval_intent"]] = {
                RESPONSE_SELECTOR_PREDICTION_KEY: {
                    PREDICTED_CONFIDENCE_KEY: float(row[order[0]]),
                    INTENT_RESPONSE_KEY: best,
                    RESPONSE_SELECTOR_UTTER_ACTION_KEY: intent_response_key_to_template_key(best),
                },
                RESPONSE_SELECTOR_RANKING_KEY: [
                    {PREDICTED_CONFIDENCE_KEY: float(row[i]), INTENT_RESPONSE_KEY: str(keys[i])} for i in order
                ],
            }
            message.set(RESPONSE_SELECTOR_PROPERTY_NAME, properties, add_to_output=True)
        return messages


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class FallbackClassifier(RasaFallbackClassifier):
    """Rasa's FallbackClassifier, which also falls back when the intent is a retrieval intent
    (``faq``) but the response selector is unsure which answer fits.

    The intent classifier can be sure a message is "some question" while the selector spreads
    its confidence over the topics: keyboard mashing ("qwertz blorp zzzz") was faq at 0.80 (DIET)
    with the best topic at 0.22. A FAQ answer at that confidence is a guess; asking to rephrase is the better reply.
    ``faq_threshold`` (0.35): on the 240 held-out FAQ phrases the selected topic's confidence is
    0.47 or more (the two under 0.6 are the two wrong topics; logistic-regression selector, 11-27),
    keyboard mashing 0.24-0.33; in cross-validation 0.3-0.35 score alike."""

    @staticmethod
    def get_default_config() -> Dict[Text, Any]:
        return {**RasaFallbackClassifier.get_default_config(), "faq_threshold": 0.35}

    def _should_fallback(self, message: Message) -> bool:
        if super()._should_fallback(message):
            return True
        intent = (message.get(INTENT) or {}).get("name")
        selected = (message.get(RESPONSE_SELECTOR_PROPERTY_NAME) or {}).get(intent)
        if not isinstance(selected, dict):
            return False
        confidence = (selected.get("response") or {}).get("confidence")
        return confidence is not None and confidence < self.component_config["faq_threshold"]
