"""The 80 COCO object classes, in the order of CenterNet's class heatmap, and the caption words
that name each one. One source for training (the vocabulary must hold every class name), for
the export (config.json tells the Go decoder which word needs which class's evidence) and for
the hallucination scores of training/eval (CHAIR-style: a caption names an object that no
reference mentions)."""

CLASSES = [
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
    "traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog",
    "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella",
    "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball", "kite",
    "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket", "bottle",
    "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple", "sandwich", "orange",
    "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch", "potted plant",
    "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard", "cell phone",
    "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase", "scissors",
    "teddy bear", "hair drier", "toothbrush",
]

# Single caption words that name a class (singular and plural). Words with other common
# meanings in captions ("orange" the colour, "tie" the verb, "train" the verb, "mouse",
# "remote", "glass", "table") are left out: a veto on them would remove true words.
_WORDS = {
    "person": "person persons people man men woman women boy boys girl girls child children kid kids "
              "baby babies toddler toddlers lady ladies guy guys player players skier skiers "
              "surfer surfers skateboarder skateboarders snowboarder snowboarders rider riders "
              "biker bikers cyclist cyclists teenager teenagers adult adults crowd worker workers "
              "couple family gentleman gentlemen male female",
    "bicycle": "bicycle bicycles bike bikes",
    "car": "car cars",
    "motorcycle": "motorcycle motorcycles motorbike motorbikes scooter scooters",
    "airplane": "airplane airplanes plane planes jet jets aircraft airliner",
    "bus": "bus buses",
    "truck": "truck trucks",
    "boat": "boat boats ship ships sailboat sailboats canoe canoes kayak kayaks",
    "traffic light": "stoplight",
    "fire hydrant": "hydrant hydrants",
    "bench": "bench benches",
    "bird": "bird birds seagull seagulls duck ducks pigeon pigeons goose geese",
    "cat": "cat cats kitten kittens kitty",
    "dog": "dog dogs puppy puppies",
    "horse": "horse horses pony ponies",
    "sheep": "sheep lamb lambs",
    "cow": "cow cows cattle bull bulls calf",
    "elephant": "elephant elephants",
    "bear": "bear bears",
    "zebra": "zebra zebras",
    "giraffe": "giraffe giraffes",
    "backpack": "backpack backpacks",
    "umbrella": "umbrella umbrellas",
    "handbag": "handbag handbags purse purses",
    "suitcase": "suitcase suitcases luggage",
    "frisbee": "frisbee frisbees",
    "skis": "skis",
    "snowboard": "snowboard snowboards",
    "kite": "kite kites",
    "skateboard": "skateboard skateboards",
    "surfboard": "surfboard surfboards",
    "tennis racket": "racket rackets racquet",
    "bottle": "bottle bottles",
    "cup": "cup cups mug mugs",
    "fork": "fork forks",
    "knife": "knife knives",
    "spoon": "spoon spoons",
    "bowl": "bowl bowls",
    "banana": "banana bananas",
    "apple": "apple apples",
    "sandwich": "sandwich sandwiches",
    "broccoli": "broccoli",
    "carrot": "carrot carrots",
    "pizza": "pizza pizzas",
    "donut": "donut donuts doughnut doughnuts",
    "cake": "cake cakes",
    "chair": "chair chairs",
    "couch": "couch couches sofa sofas",
    "bed": "bed beds",
    "toilet": "toilet toilets",
    "tv": "tv television",
    "laptop": "laptop laptops",
    "keyboard": "keyboard keyboards",
    "cell phone": "phone phones cellphone",
    "microwave": "microwave",
    "oven": "oven ovens stove",
    "toaster": "toaster",
    "sink": "sink sinks",
    "refrigerator": "refrigerator fridge",
    "book": "book books",
    "clock": "clock clocks",
    "vase": "vase vases",
    "scissors": "scissors",
    "toothbrush": "toothbrush toothbrushes",
}

# word -> class index
WORD_CLASS = {w: CLASSES.index(c) for c, ws in _WORDS.items() for w in ws.split()}
PERSON = CLASSES.index("person")


def class_words():
    """Every word of every class name and synonym: the vocabulary keeps them all."""
    return sorted({w for c in CLASSES for w in c.split()} | set(WORD_CLASS))


def named_classes(words):
    """The classes a tokenised caption names."""
    return {WORD_CLASS[w] for w in words if w in WORD_CLASS}
