/*
 * Reference data of the sample region: SNOMED CT codes of common allergies,
 * problems, vaccines, results and encounters; dm+d-style medicines with dose text;
 * UK-style names and streets.
 */
#include "synth.h"

const synth_code synth_allergies[] = {
	{ "91936005", "Allergy to penicillin" },
	{ "294505008", "Allergy to amoxicillin" },
	{ "91935009", "Allergy to peanut" },
	{ "300913006", "Allergy to shellfish" },
	{ "418689008", "Allergy to grass pollen" },
	{ "424213003", "Allergy to bee venom" },
	{ "300916003", "Latex allergy" },
	{ "293586001", "Allergy to aspirin" },
	{ "91934008", "Allergy to nut" },
	{ "232350006", "House dust mite allergy" },
};
const size_t synth_nallergies = SYNTH_N(synth_allergies);

const synth_code synth_reactions[] = {
	{ "271807003", "Eruption of skin" },
	{ "126485001", "Urticaria" },
	{ "39579001", "Anaphylaxis" },
	{ "267036007", "Dyspnoea" },
	{ "422587007", "Nausea" },
	{ "41291007", "Angioedema" },
	{ "418290006", "Itching" },
};
const size_t synth_nreactions = SYNTH_N(synth_reactions);

const synth_med synth_meds[] = {
	{ "39732311000001104", "Amoxicillin 250mg capsules", "One capsule three times a day for 5 days" },
	{ "319773006", "Amlodipine 5mg tablets", "One tablet once a day" },
	{ "318274004", "Ramipril 5mg capsules", "One capsule once a day" },
	{ "322236009", "Paracetamol 500mg tablets", "Two tablets up to four times a day when required" },
	{ "320000009", "Simvastatin 40mg tablets", "One tablet at night" },
	{ "325278007", "Metformin 500mg tablets", "One tablet twice a day with meals" },
	{ "317972000", "Omeprazole 20mg gastro-resistant capsules", "One capsule once a day before breakfast" },
	{ "320176004", "Salbutamol 100micrograms/dose inhaler CFC free", "Two puffs when required for breathlessness" },
	{ "321917001", "Sertraline 50mg tablets", "One tablet once a day" },
	{ "315236003", "Levothyroxine sodium 50microgram tablets", "One tablet in the morning, 30 minutes before food" },
};
const size_t synth_nmeds = SYNTH_N(synth_meds);

const synth_code synth_problems[] = {
	{ "38341003", "Hypertensive disorder" },
	{ "44054006", "Type 2 diabetes mellitus" },
	{ "195967001", "Asthma" },
	{ "13645005", "Chronic obstructive pulmonary disease" },
	{ "35489007", "Depressive disorder" },
	{ "197480006", "Anxiety disorder" },
	{ "49436004", "Atrial fibrillation" },
	{ "40930008", "Hypothyroidism" },
	{ "396275006", "Osteoarthritis" },
	{ "84114007", "Heart failure" },
	{ "22298006", "Myocardial infarction" },
	{ "230690007", "Cerebrovascular accident" },
	{ "709044004", "Chronic kidney disease" },
	{ "37796009", "Migraine" },
	{ "235595009", "Gastro-oesophageal reflux disease" },
	{ "414916001", "Obesity" },
	{ "55822004", "Hyperlipidaemia" },
	{ "68566005", "Urinary tract infection" },
	{ "69896004", "Rheumatoid arthritis" },
};
const size_t synth_nproblems = SYNTH_N(synth_problems);

/* GP summary exclusion sets: assisted fertilisation, gender related issues,
 * sexually transmitted disease, termination of pregnancy. mcr.yaml lists these. */
const synth_code synth_sensitive[] = {
	{ "52637005", "In vitro fertilisation" },
	{ "93461009", "Gender dysphoria" },
	{ "8098009", "Sexually transmitted infectious disease" },
	{ "105629000", "Chlamydial infection" },
	{ "15628003", "Gonorrhoea" },
	{ "76272004", "Syphilis" },
	{ "386639001", "Termination of pregnancy" },
	{ "57797005", "Induced termination of pregnancy" },
};
const size_t synth_nsensitive = SYNTH_N(synth_sensitive);

const synth_code synth_vaccines_sct[] = {
	{ "1119349007", "SARS-CoV-2 mRNA vaccine" },
	{ "836398006", "Pneumococcal vaccine" },
	{ "871831003", "Measles, mumps and rubella vaccine" },
	{ "871751006", "Hepatitis A vaccine" },
};
const size_t synth_nvaccines_sct = SYNTH_N(synth_vaccines_sct);

const synth_obs synth_results[] = {
	{ "271649006", "Systolic blood pressure", "mmHg", "mm[Hg]", 900, 1400, 950, 1750 },
	{ "271650006", "Diastolic blood pressure", "mmHg", "mm[Hg]", 600, 900, 550, 1050 },
	{ "60621009", "Body mass index", "kg/m2", "kg/m2", 185, 249, 170, 420 },
	{ "364075005", "Heart rate", "beats/minute", "/min", 600, 1000, 480, 1250 },
	{ "431314004", "Peripheral oxygen saturation", "%", "%", 940, 1000, 880, 1000 },
	{ "43396009", "Haemoglobin A1c level", "mmol/mol", "mmol/mol", 200, 410, 300, 900 },
	{ "80274001", "Glomerular filtration rate", "mL/min/1.73m2", "mL/min/{1.73_m2}", 900, 1200, 250, 1200 },
	{ "77068002", "Cholesterol level", "mmol/L", "mmol/L", 0, 50, 30, 80 },
	{ "386725007", "Body temperature", "degrees C", "Cel", 361, 372, 355, 395 },
};
const size_t synth_nresults = SYNTH_N(synth_results);

const synth_code synth_encounter_types[] = {
	{ "185317003", "Telephone encounter" },
	{ "185389009", "Follow-up visit" },
	{ "11429006", "Consultation" },
	{ "185349003", "Encounter for check up" },
	{ "439708006", "Home visit" },
};
const size_t synth_nencounter_types = SYNTH_N(synth_encounter_types);

const char *const synth_given_f[] = {
	"Olivia", "Amelia", "Isla", "Ava", "Emily", "Sophie", "Grace", "Mia", "Poppy",
	"Ella", "Margaret", "Susan", "Patricia", "Jean", "Sarah", "Claire", "Helen",
	"Rebecca", "Hannah", "Charlotte", "Joan", "Elizabeth", "Niamh", "Aoife",
	"Priya", "Fatima", "Mary-Jane", "Lily", "Evie", "Ruth",
};
const size_t synth_ngiven_f = SYNTH_N(synth_given_f);

const char *const synth_given_m[] = {
	"Oliver", "George", "Harry", "Jack", "Jacob", "Noah", "Charlie", "Thomas",
	"James", "William", "David", "John", "Michael", "Peter", "Robert", "Richard",
	"Stephen", "Paul", "Mark", "Daniel", "Mohammed", "Arjun", "Rhodri", "Dafydd",
	"Alfie", "Leo", "Kwame", "Ian", "Graham", "Keith",
};
const size_t synth_ngiven_m = SYNTH_N(synth_given_m);

const char *const synth_given_nonascii_f[] = {
	"Siân", "Zoë", "Chloë", "Renée", "Małgorzata", "Éabha", "Zuzanna", "Aíne",
};
const size_t synth_ngiven_nonascii_f = SYNTH_N(synth_given_nonascii_f);

const char *const synth_given_nonascii_m[] = {
	"Seán", "Łukasz", "José", "Jérôme", "Ciarán", "Søren", "Oisín", "Rónán",
};
const size_t synth_ngiven_nonascii_m = SYNTH_N(synth_given_nonascii_m);

const char *const synth_family[] = {
	"Smith", "Jones", "Williams", "Taylor", "Brown", "Davies", "Evans", "Wilson",
	"Thomas", "Johnson", "Roberts", "Robinson", "Thompson", "Wright", "Walker",
	"White", "Edwards", "Hughes", "Green", "Hall", "Lewis", "Harris", "Clarke",
	"Patel", "Jackson", "Wood", "Turner", "Martin", "Cooper", "Hill", "Ward",
	"Morris", "Moore", "Clark", "Lee", "King", "Baker", "Harrison", "Morgan",
	"Allen", "James", "Scott", "Phillips", "Watson", "Davis", "Parker", "Price",
	"Bennett", "Young", "Griffiths", "Mitchell", "Kelly", "Cook", "Carter",
	"Richardson", "Bailey", "Collins", "Bell", "Shaw", "Murphy", "Miller", "Cox",
	"Richards", "Khan", "Marshall", "Anderson", "Simpson", "Ellis", "Adams",
	"Singh", "Begum", "Ali", "Ahmed", "Hussain", "Nowak", "Kowalski",
	"Smith-Jones", "Okafor", "Mensah", "Chen",
};
const size_t synth_nfamily = SYNTH_N(synth_family);

const char *const synth_family_apos[] = {
	"O'Brien", "O'Connor", "O'Neill", "D'Souza", "O'Sullivan", "D'Arcy",
	"O'Reilly", "N'Diaye",
};
const size_t synth_nfamily_apos = SYNTH_N(synth_family_apos);

const char *const synth_family_nonascii[] = {
	"Müller", "Ní Bhriain", "Ó Briain", "Lévesque", "Wiśniewski", "Søndergaard",
	"Gómez", "Brontë",
};
const size_t synth_nfamily_nonascii = SYNTH_N(synth_family_nonascii);

const char *const synth_streets[] = {
	"High Street", "Church Road", "Station Road", "Fore Street", "Queens Road",
	"London Road", "Mill Lane", "The Avenue", "Ware Road", "Hitchin Road",
	"St Andrew's Street", "Bancroft", "Primrose Close", "Orchard Way",
	"Victoria Road", "Park Lane", "Nightingale Close", "Hertingfordbury Road",
};
const size_t synth_nstreets = SYNTH_N(synth_streets);
