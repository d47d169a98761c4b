"""English text the tiny model's tokenizer is trained on.

Changing it changes the tokenizer: bump ``tiny.BUILDER_VERSION`` with it so
cached tiny models are rebuilt.
"""

SENTENCES = """\
The quick brown fox jumps over the lazy dog.
She sells sea shells by the sea shore every summer morning.
It was a bright cold day in April, and the clocks were striking thirteen.
Call me when you get home, and tell me how the trip went.
The weather today is sunny with a light breeze from the west.
Tomorrow it will rain in the afternoon, so bring an umbrella.
I think the meeting has been moved to Thursday at ten o'clock.
Please send the report before the end of the week.
Could you help me carry these boxes up the stairs?
The children played in the park until the sun went down.
My grandmother baked bread every Sunday for the whole family.
Water boils at one hundred degrees Celsius at sea level.
The Earth goes around the Sun once a year, and the Moon goes around the Earth once a month.
Light travels faster than sound, which is why we see lightning before we hear thunder.
Plants turn sunlight, water and air into sugar and oxygen.
A triangle has three sides, a square has four, and a hexagon has six.
Two plus two is four, and ten times ten is one hundred.
The train to London leaves at 8:45 from platform 3.
We walked along the river and watched the boats go by.
The museum opens at nine in the morning and closes at six in the evening.
He reads a book every night before he goes to sleep.
The library has thousands of books, maps and old newspapers.
Our team won the game by two points in the last minute.
She practised the piano for an hour every day after school.
The doctor said I should drink more water and sleep longer.
Fresh vegetables, fruit and whole grains are part of a healthy diet.
Chop the onions, fry them in butter, then add the tomatoes and a pinch of salt.
Stir the soup slowly and let it simmer for twenty minutes.
The recipe needs two cups of flour, one egg and a spoon of sugar.
Coffee in the morning and tea in the afternoon is my usual habit.
The cat slept on the warm windowsill all afternoon.
Dogs are loyal animals and love to go for long walks.
Birds build their nests in spring and fly south in autumn.
The elephant is the largest animal that lives on land.
Whales and dolphins are mammals that live in the ocean.
The mountains were covered in snow, and the lakes were frozen.
In the desert the days are hot and the nights are cold.
The forest was quiet except for the sound of the wind in the trees.
A small village sat at the bottom of the green valley.
The city streets were full of people, cars and bicycles.
This movie was wonderful: the acting was superb and the story kept me guessing.
I loved every minute of this film and would happily watch it again.
A beautiful, moving picture with a brilliant performance by the lead actress.
The plot was clever, the music was lovely, and the ending made me smile.
One of the best films I have seen this year; highly recommended.
What a waste of time. The story made no sense and the dialogue was painful.
This film was boring, far too long, and the characters were flat.
I wanted to like it, but the script was weak and the jokes fell flat.
The worst movie I have seen in years; I left before the end.
Terrible acting, a silly plot and a predictable ending.
Review: A charming comedy with a warm heart. Label: positive
Review: Dull, slow and badly edited. Label: negative
Review: The cast is great and the story is touching. Label: positive
Review: I fell asleep halfway through. Label: negative
The book is better than the film, as it so often is.
The director used long, quiet shots to build the tension.
Critics praised the cinematography but disliked the script.
The sequel is louder and longer, but not better.
User: What is the capital of France?
Assistant: The capital of France is Paris.
User: How many days are there in a week?
Assistant: There are seven days in a week.
User: Can you translate "good morning" into Spanish?
Assistant: "Good morning" in Spanish is "buenos días".
User: Write a short poem about the sea.
Assistant: The sea is wide, the sea is deep, it sings the sailors all to sleep.
User: What should I cook for dinner tonight?
Assistant: A simple pasta with garlic, olive oil and fresh herbs is quick and tasty.
System: You are a helpful assistant that answers briefly and politely.
Question: Why is the sky blue?
Answer: Sunlight is scattered by the air, and blue light is scattered the most.
Question: Who wrote Romeo and Juliet?
Answer: William Shakespeare wrote Romeo and Juliet.
Question: What is the largest planet in our solar system?
Answer: Jupiter is the largest planet in our solar system.
Instruction: Summarise the following paragraph in one sentence.
Input: The town council met on Monday to discuss the new park, the budget and the roads.
Output: The council discussed the park, the budget and the roads.
def add(a, b):
    return a + b
for i in range(10):
    print(i * i)
if x > 0 and y < 5:
    result = x + y
import json
data = json.loads(text)
class Point:
    def __init__(self, x, y):
        self.x = x
        self.y = y
The function returns a list of numbers sorted from smallest to largest.
Save the file, run the tests, and commit your changes.
The server responded with an error, so we restarted it and tried again.
Open the terminal, change to the project folder, and type the command.
The model was trained for three epochs with a learning rate of 0.0002.
The loss went down quickly at first and then more slowly.
A neural network learns by adjusting its weights to reduce the error.
Large language models predict the next word from the words before it.
The dataset contains fifty thousand reviews, half positive and half negative.
Each example has a text field and a label field.
History teaches us how people lived, worked and fought long ago.
The ancient Romans built roads, bridges and aqueducts across Europe.
In 1969 two astronauts walked on the Moon for the first time.
The printing press made books cheaper and spread new ideas quickly.
The war ended in 1945, and many cities had to be rebuilt.
Kings and queens once ruled most of the countries of the world.
The election will be held in November, and every vote counts.
Prices rose by three percent last year, while wages rose by two.
The bank lends money to families who want to buy a house.
The shop on the corner sells newspapers, sweets and milk.
He paid twelve dollars and fifty cents for the tickets.
She bought a red dress, a pair of shoes and a blue hat.
The football match was cancelled because of heavy rain.
The runners crossed the finish line one after another.
Tennis, swimming and cycling are popular summer sports.
The referee blew the whistle and the crowd cheered.
Learning a new language takes patience, practice and time.
The teacher wrote the answer on the board and explained each step.
Students must hand in their homework by Friday.
The exam has ten questions, and you have two hours to answer them.
Good friends listen to each other and share both joy and sorrow.
He apologised for being late and promised it would not happen again.
Thank you very much for your kind letter and the lovely flowers.
I'm sorry, but I don't understand what you mean.
Yes, of course! I'd be glad to help.
No, thanks, I've already eaten.
Where is the nearest station, please?
Turn left at the church, then go straight on for two hundred metres.
How much does this cost? It costs five pounds.
What time is it? It's half past seven.
Why did you leave so early? I was tired and wanted to rest.
When will you be back? I'll be back on Monday evening.
Who is that man over there? He is my uncle, a retired engineer.
Which one do you prefer, the green one or the yellow one?
Once upon a time there lived a poor farmer and his three daughters.
The princess opened the door and found a small golden key.
The old man told the boy a story about dragons and distant islands.
At midnight the castle was silent, and only the owl was awake.
They lived happily ever after in a little house by the sea.
The ship sailed through the storm and reached the harbour at dawn.
The detective looked at the clues and smiled, for now he knew the truth.
She opened the letter slowly, afraid of what it might say.
Numbers: 0 1 2 3 4 5 6 7 8 9 10 11 12 20 50 100 1000 2024 3.14 42.
Punctuation matters: commas, full stops, colons; semicolons! questions? "quotes" (brackets) [lists] {braces}.
Email us at hello@example.com or visit https://example.com/help for more information.
The temperature fell to -5 degrees overnight, a record for March.
Mix 250 g of flour with 100 ml of milk and 2 eggs.
The meeting is on 12/03/2025 at 14:30 in room B-204.
"""

WORDS = """\
a about above across act add after again against age ago agree air all almost alone along already
also always among an and animal another answer any appear apple area arm around arrive art as ask at
away baby back bad bag ball bank base be bear beat beautiful because become bed before begin behind
believe below best better between big bird black blood blue board boat body bone book both bottom box
boy break bright bring brother brown build burn busy but buy by call came camp can capital car care
carry case catch cause cell center century certain chair chance change character charge chart check
chief child choose church circle city claim class clean clear climb clock close cloud coast cold
collect colour come common company complete condition consider contain continue control cook cool
copy corn correct cost could count country course cover cow create cross crowd cry current cut dance
dark day dead deal dear decide deep degree depend describe desert design determine develop dictionary
did die differ difficult direct discover distant divide do doctor does dog dollar done door double
down draw dream dress drink drive drop dry during each ear early earth east easy eat edge effect egg
eight either electric element else end enemy energy engine enough enter equal equate even evening
event ever every exact example except excite exercise expect experience experiment eye face fact fair
fall family famous far farm fast father favour fear feed feel feet fell felt few field fig fight
figure fill final find fine finger finish fire first fish fit five flat floor flow flower fly follow
food foot for force forest form forward found four fraction free fresh friend from front fruit full
fun game garden gas gather gave general gentle get girl give glad glass go gold gone good got govern
grand grass great green grew ground group grow guess guide gun had hair half hand happen happy hard
has hat have he head hear heard heart heat heavy held help her here high hill him his history hold
hole home hope horse hot hour house how huge human hundred hunt hurry idea if imagine important in
inch include indicate industry insect instant instrument interest invent iron is island it job join
joy jump just keep kept key kind king knew know lady lake land language large last late laugh law lay
lead learn least leave led left leg length less let letter level lie life lift light like line liquid
list listen little live locate long look lost lot loud love low machine made magnet main major make
man many map mark market mass master match material matter may me mean measure meat meet melody metal
method middle might mile milk million mind mine minute miss modern moment money month moon more
morning most mother motion mount mountain mouth move much music must my name nation natural nature
near necessary neck need neighbour never new next night nine no noise noon nor north nose note nothing
notice noun now number numeral object observe occur ocean of off offer office often oil old on once
one only open operate opposite or order organ original other our out over own oxygen page paint pair
paper paragraph parent part particular party pass past path pattern pay people perhaps period person
picture piece place plain plan plane planet plant play please plural poem point poor populate port
pose position possible post pound power practice prepare present press pretty print probable problem
process produce product proper property protect prove provide pull push put quart question quick
quiet quite race radio rail rain raise ran range rather reach read ready real reason receive record
red region remember repeat reply represent require rest result rich ride right ring rise river road
rock roll room root rope rose round row rub rule run safe said sail salt same sand sat save saw say
scale school science score sea search season seat second section see seed seem segment select self
sell send sense sentence separate serve set settle seven several shall shape share sharp she sheet
shell shine ship shoe shop shore short should shoulder shout show side sight sign silent silver
similar simple since sing single sister sit six size skill skin sky sleep slip slow small smell smile
snow so soft soil soldier solution solve some son song soon sound south space speak special speech
speed spell spend spoke spot spread spring square stand star start state station stay steam steel
step stick still stone stood stop store story straight strange stream street stretch string strong
student study subject substance success such sudden suffix sugar suggest suit summer sun supply
support sure surface surprise swim syllable symbol system table tail take talk tall teach team teeth
tell temperature ten term test than thank that the their them then there these they thick thin thing
think third this those though thought thousand three through throw thus tie time tiny tire to
together told tone too took tool top total touch toward town track trade travel tree triangle trip
trouble truck true try tube turn twenty two type under unit until up us use usual valley value vary
verb very view village visit voice vowel wait walk wall want war warm was wash watch water wave way
we wear weather week weight well went were west what wheel when where whether which while white who
whole whose why wide wife wild will win wind window wing winter wire wish with woman women wonder
wood word work world would write written wrong wrote yard year yellow yes yet you young your
"""

TEXT = SENTENCES + WORDS
