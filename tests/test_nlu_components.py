"""The custom NLU components, trained and run through Rasa's own storage and message types."""
import pytest
from rasa.engine.graph import ExecutionContext, GraphSchema
from rasa.engine.storage.local_model_storage import LocalModelStorage
from rasa.engine.storage.resource import Resource
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from telehealth.nlu.components import LanguageDetector, RuleIntentClassifier, TextNormalizer, parse_option


@pytest.fixture
def storage(tmp_path):
    return LocalModelStorage(tmp_path)


@pytest.fixture
def context():
    return ExecutionContext(GraphSchema({}), "test")


def example(text, intent, locale=None):
    data = {"text": text, "intent": intent}
    if locale:
        data["metadata"] = {"intent": {"locale": locale}}
    return Message(data=data)


def test_normalizer_rewrites_training_and_incoming_text(storage, context):
    normalizer = TextNormalizer.create({}, storage, Resource("n"), context)
    data = normalizer.process_training_data(TrainingData([example("مجهے ۳ دن سے بخار هے", "report_symptoms")]))
    assert data.training_examples[0].get("text") == "مجہے 3 دن سے بخار ہے"
    [message] = normalizer.process([Message(data={"text": "BUKHAAAR\u200c ہے"})])
    assert message.get("text") == "bukhaar ہے"
    # A button payload is left exactly as sent (its entity values are case-sensitive tags).
    [payload] = normalizer.process([Message(data={"text": '/choose_language{"language":"ur-Latn"}'})])
    assert payload.get("text") == '/choose_language{"language":"ur-Latn"}'


TRAIN = [
    ("hello how are you", "en"), ("i have a fever", "en"), ("what are the symptoms", "en"),
    ("thank you so much", "en"), ("i want to talk to a doctor", "en"), ("is the vaccine safe", "en"),
    ("mujhe bukhar hai", "ur-Latn"), ("salam kya haal hai", "ur-Latn"), ("doctor se baat karni hai", "ur-Latn"),
    ("shukriya bhai", "ur-Latn"), ("corona ki alamat kya hain", "ur-Latn"), ("vaccine lagwani hai", "ur-Latn"),
    ("مجھے بخار ہے", "ur"), ("کورونا کی علامات کیا ہیں", "ur"), ("ڈاکٹر سے بات کرنی ہے", "ur"),
    ("زه تبه لرم", "ps"), ("د کرونا نښې څه دي", "ps"), ("ډاکټر سره خبرې کول غواړم", "ps"),
    ("مونکي بخار آهي", "sd"), ("ڪرونا جون علامتون ڇا آهن", "sd"), ("ڊاڪٽر سان ڳالهائڻ چاهيان ٿو", "sd"),
    ("corona test", "ur"),  # Latin text in a Perso-Arabic locale: not evidence of that locale
]


@pytest.fixture
def detector(storage, context):
    resource = Resource("language_detector")
    detector = LanguageDetector.create({}, storage, resource, context)
    detector.train(TrainingData([example(t, "x", loc) for t, loc in TRAIN]))
    return LanguageDetector.load({}, storage, resource, context)


@pytest.mark.parametrize(
    "text, locale",
    [
        ("i have a cough", "en"),
        ("mujhe khansi hai", "ur-Latn"),
        ("kya mujhe corona hai", "ur-Latn"),
        ("مجھے کھانسی ہے", "ur"),
        ("زه ټوخی لرم", "ps"),
        ("مونکي کنگهه آهي", "sd"),
    ],
)
def test_language_detector_after_persist_and_load(detector, text, locale):
    result = detector.detect(text)
    assert result["locale"] == locale, result
    assert 0 < result["confidence"] <= 1


def test_language_detector_keeps_scripts_apart(detector):
    assert detector.detect("corona test karwana hai")["locale"] in ("en", "ur-Latn")
    for text in ("😷🤒", "मुझे बुखार है", ""):
        assert detector.detect(text)["locale"] is None


def test_language_detector_output_is_in_the_parse_result(detector):
    message, payload = detector.process([
        Message(data={"text": "mujhe bukhar hai"}),
        Message(data={"text": '/select_option{"menu":"main","option":"1"}'}),
    ])
    assert message.as_dict(only_output_properties=True)["language_detection"]["locale"] == "ur-Latn"
    assert "language_detection" not in payload.as_dict(only_output_properties=True)


@pytest.mark.parametrize("text, number", [("2", 2), ("10", 10), ("option 3", 3), ("2.", 2), (" 7 ", 7),
                                          ("2 din se bukhar", None), ("123", None), ("", None)])
def test_parse_option(text, number):
    assert parse_option(text) == number


def test_rule_intents(storage, context):
    rules = RuleIntentClassifier.create({}, storage, Resource("r"), context)
    number, emoji, words = rules.process([
        Message(data={"text": "3", "intent": {"name": "greet", "confidence": 0.4}}),
        Message(data={"text": "🤒🤒", "intent": {"name": "affirm", "confidence": 0.9}}),
        Message(data={"text": "hello", "intent": {"name": "greet", "confidence": 0.9}}),
    ])
    assert number.get("intent") == {"name": "select_option", "confidence": 1.0}
    assert [e["value"] for e in number.get("entities")] == ["3"]
    assert emoji.get("intent")["name"] == "nlu_fallback"
    assert words.get("intent")["name"] == "greet"


def test_compact_parse_data_drops_only_the_answer_texts(storage, context):
    from telehealth.nlu.components import CompactParseData

    component = CompactParseData.create({}, storage, Resource("compact"), context)
    message = Message(data={"text": "corona kaise phailta hai"})
    selected = {"response": {"responses": [{"text": "The virus spreads ..." * 50}], "confidence": 0.97,
                             "intent_response_key": "faq/spread", "utter_action": "utter_faq/spread"},
                "ranking": [{"id": 1, "confidence": 0.97, "intent_response_key": "faq/spread"}]}
    message.set("response_selector", {"all_retrieval_intents": ["faq"], "faq": selected}, add_to_output=True)
    component.process([message])
    out = message.as_dict(only_output_properties=True)["response_selector"]
    assert out["faq"]["response"] == {"confidence": 0.97, "intent_response_key": "faq/spread",
                                      "utter_action": "utter_faq/spread"}
    assert out["faq"]["ranking"] == selected["ranking"]
    assert out["all_retrieval_intents"] == ["faq"]
    plain = Message(data={"text": "2"})
    component.process([plain])  # no selector output: untouched
    assert plain.get("response_selector") is None


@pytest.mark.parametrize("text, guessed, expected", [
    ("saans nahi aa rahi", "deny", "emergency"),                      # a classifier may read "nahi" as deny
    ("ساھ نه ٿو اچي", "deny", "emergency"),
    ("ammi behosh ho gayi hain", "report_symptoms", "emergency"),
    ("saans theek hai, bukhar bhi nahi", "deny", "deny"),            # nothing alarming: the guess stands
    ("mujhe 3 din se bukhar hai", "report_symptoms", "report_symptoms"),
    ("saans nahi aa rahi", "give_phone_number", "give_phone_number"),  # not free text: kept
])
def test_a_warning_sign_makes_the_message_an_emergency(storage, context, text, guessed, expected):
    from telehealth.nlu.components import SymptomExtractor

    extractor = SymptomExtractor.create({}, storage, Resource("s"), context)
    normalizer = TextNormalizer.create({}, storage, Resource("n"), context)
    [message] = normalizer.process([Message(data={"text": text})])
    ranking = [{"name": guessed, "confidence": 0.7}, {"name": "emergency", "confidence": 0.2}, {"name": "faq", "confidence": 0.1}]
    message.set("intent", ranking[0])
    message.set("intent_ranking", ranking)
    [message] = extractor.process([message])
    assert message.get("intent")["name"] == expected
    assert [r["name"] for r in message.get("intent_ranking")][0] == expected
    assert len(message.get("intent_ranking")) == 3


def test_a_faq_answer_the_selector_is_unsure_of_falls_back(storage, context):
    from telehealth.nlu.components import FallbackClassifier

    component = FallbackClassifier.create({**FallbackClassifier.get_default_config(), "threshold": 0.45,
                                           "ambiguity_threshold": 0.05}, storage, Resource("fallback"), context)

    def faq_message(text, topic_confidence):
        message = Message(data={"text": text, "intent": {"name": "faq", "confidence": 0.8},
                                "intent_ranking": [{"name": "faq", "confidence": 0.8},
                                                   {"name": "out_of_scope", "confidence": 0.1}]})
        message.set("response_selector", {"all_retrieval_intents": ["faq"], "faq": {
            "response": {"confidence": topic_confidence, "intent_response_key": "faq/myths"}, "ranking": []}})
        return message

    mashing, question = faq_message("qwertz blorp zzzz", 0.22), faq_message("is garlic a cure?", 0.9)
    greeting = Message(data={"text": "hello", "intent": {"name": "greet", "confidence": 0.9},
                             "intent_ranking": [{"name": "greet", "confidence": 0.9}]})
    unsure = Message(data={"text": "hmm", "intent": {"name": "greet", "confidence": 0.3},
                           "intent_ranking": [{"name": "greet", "confidence": 0.3}]})
    component.process([mashing, question, greeting, unsure])
    assert mashing.get("intent")["name"] == "nlu_fallback"
    assert question.get("intent")["name"] == "faq"
    assert greeting.get("intent")["name"] == "greet"
    assert unsure.get("intent")["name"] == "nlu_fallback"  # Rasa's own threshold still applies


INTENT_TRAIN = [
    ("hello", "greet"), ("hi there", "greet"), ("salam", "greet"), ("assalam o alaikum", "greet"),
    ("good morning", "greet"), ("hey", "greet"),
    ("i cant breathe", "emergency"), ("saans nahi aa rahi", "emergency"), ("chest pain and cant breathe", "emergency"),
    ("he fainted", "emergency"), ("lips are blue", "emergency"), ("very hard to breathe", "emergency"),
    ("i want a doctor", "request_doctor"), ("doctor se baat karni hai", "request_doctor"),
    ("call me back doctor", "request_doctor"), ("talk to doctor please", "request_doctor"),
    ("need doctor call", "request_doctor"), ("mujhe doctor chahiye", "request_doctor"),
]


def featurize(storage, context, messages, training=False, parts=None):
    """Rasa's tokenizer and the config's two count featurizers (words, character 2-4-grams)."""
    from rasa.nlu.featurizers.sparse_featurizer.count_vectors_featurizer import CountVectorsFeaturizer
    from rasa.nlu.tokenizers.whitespace_tokenizer import WhitespaceTokenizer

    if parts is None:
        tokenizer = WhitespaceTokenizer.create(WhitespaceTokenizer.get_default_config(), storage, Resource("t"), context)
        words = CountVectorsFeaturizer.create(CountVectorsFeaturizer.get_default_config(), storage, Resource("w"), context)
        chars = CountVectorsFeaturizer.create(
            {**CountVectorsFeaturizer.get_default_config(), "analyzer": "char_wb", "min_ngram": 2, "max_ngram": 4},
            storage, Resource("c"), context,
        )
        parts = (tokenizer, words, chars)
    tokenizer, words, chars = parts
    if training:
        data = TrainingData(messages)
        tokenizer.process_training_data(data)
        for featurizer in (words, chars):
            featurizer.train(data)
            featurizer.process_training_data(data)
        return data, parts
    tokenizer.process(messages)
    words.process(messages)
    chars.process(messages)
    return messages, parts


def test_logistic_regression_weights_features_and_survives_persist_and_load(storage, context):
    from telehealth.nlu.components import LogisticRegressionClassifier

    data, parts = featurize(storage, context, [example(t, i) for t, i in INTENT_TRAIN], training=True)
    resource = Resource("intents")
    trained = LogisticRegressionClassifier.create(
        {**LogisticRegressionClassifier.get_default_config(), "ranking_length": 3}, storage, resource, context)
    trained.train(data)
    loaded = LogisticRegressionClassifier.load(
        {**LogisticRegressionClassifier.get_default_config(), "ranking_length": 3}, storage, resource, context)

    texts = ["hello hello", "i cant breathe, my lips are blue", "doctor se baat karwa do", "zzzz qqqq"]
    messages, _ = featurize(storage, context, [Message(data={"text": t}) for t in texts], parts=parts)
    # Each featurizer's part of a row has unit length (a repeated word does not make a message weigh more)
    import numpy as np

    X = loaded._create_X(messages)
    sizes = [block.shape[1] for block in loaded._blocks(messages)]
    for row in X[:3]:
        norms = [np.linalg.norm(row[:, :sizes[0]].toarray()), np.linalg.norm(row[:, sizes[0]:].toarray())]
        assert np.allclose(norms, 1.0), norms
    # the idf was learnt in training and is not refitted on the messages it classifies
    assert all(np.array_equal(a.idf_, b.idf_) for a, b in zip(trained.weights, loaded.weights))
    # scored without scipy copying the coefficients for every message (X @ coef_.T contiguous)
    assert trained.clf.coef_.T.flags.c_contiguous and loaded.clf.coef_.T.flags.c_contiguous
    # one message at a time (the server's way) gives the rows scikit-learn's transformers give
    from scipy.sparse import hstack

    for message in messages:
        blocks = loaded._blocks([message])
        one = loaded._create_X([message])
        reference = hstack([w.transform(b) for w, b in zip(loaded.weights, blocks)]).tocsr()
        assert one.shape == reference.shape and np.allclose(one.toarray(), reference.toarray(), rtol=1e-12, atol=0)
        assert np.allclose(one.toarray(), X[messages.index(message)].toarray())

    expected = {"hello hello": "greet", "i cant breathe, my lips are blue": "emergency",
                "doctor se baat karwa do": "request_doctor"}
    live = trained.process([Message(data=m.data, features=m.features) for m in messages])
    for message, fresh in zip(loaded.process(messages), live):
        text = message.get("text")
        if text in expected:
            assert message.get("intent")["name"] == expected[text], message.get("intent_ranking")
        assert message.get("intent")["confidence"] == pytest.approx(fresh.get("intent")["confidence"])
        assert len(message.get("intent_ranking")) == 3


FAQ_TRAIN = [
    ("what are the symptoms", "symptoms"), ("corona ki alamat", "symptoms"), ("symptoms of covid", "symptoms"),
    ("alamaat kya hain", "symptoms"), ("signs of corona", "symptoms"),
    ("is the vaccine safe", "vaccine"), ("vaccine kahan lagegi", "vaccine"), ("where to get vaccinated", "vaccine"),
    ("vaccine ke side effects", "vaccine"), ("covid jab safe hai", "vaccine"),
    ("how does it spread", "spread"), ("corona kaise phailta hai", "spread"), ("can it spread through air", "spread"),
    ("does it spread by touching", "spread"), ("phailta kaise hai", "spread"),
]


def faq_example(text, topic):
    return Message(data={"text": text, "intent": "faq", "intent_response_key": f"faq/{topic}"})


def test_response_selector_chooses_the_faq_answer_as_rasa_reads_it(storage, context):
    from telehealth.nlu.components import LogisticRegressionResponseSelector

    training = [faq_example(t, topic) for t, topic in FAQ_TRAIN] + [example(t, i) for t, i in INTENT_TRAIN]
    data, parts = featurize(storage, context, training, training=True)
    config = {**LogisticRegressionResponseSelector.get_default_config(), "ranking_length": 2}
    resource = Resource("faq_selector")
    LogisticRegressionResponseSelector.create(config, storage, resource, context).train(data)
    selector = LogisticRegressionResponseSelector.load(config, storage, resource, context)
    # learnt from the FAQ examples only: the other intents are not answers
    assert sorted(selector.clf.classes_) == ["faq/spread", "faq/symptoms", "faq/vaccine"]

    texts = {"corona ke symptoms kya hain": "faq/symptoms", "is vaccine safe for me": "faq/vaccine",
             "kaise phailta hai corona": "faq/spread"}
    messages, _ = featurize(storage, context, [Message(data={"text": t}) for t in texts], parts=parts)
    for message in selector.process(messages):
        selected = message.as_dict_nlu()["response_selector"]
        assert selected["all_retrieval_intents"] == ["faq"]
        response = selected["faq"]["response"]
        assert response["intent_response_key"] == texts[message.get("text")], selected
        assert response["utter_action"] == "utter_" + texts[message.get("text")]
        assert 0.34 < response["confidence"] <= 1
        ranking = selected["faq"]["ranking"]
        assert len(ranking) == 2 and ranking[0]["intent_response_key"] == response["intent_response_key"]
        assert ranking[0]["confidence"] >= ranking[1]["confidence"]
