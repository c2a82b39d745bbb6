"""Clinically coherent content for the synthetic region (issue 14, item 9).

Each open stay follows one *case*: the admission reason, the admission note, the diagnosis, the
drugs ordered, the referrals and their results all belong to it. Drugs are structured like a
real order (product, substance, form, strength, dose, route, "x N" with N times, or "vid behov"
with a maximum per 24 h). A drug that matches one of the patient's allergies (``record.allergy``)
is replaced by its alternative, or left out: a patient with Penicillinallergi gets no penicillin.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Drug:
    drug: str
    substance: str
    form: str
    strength: str
    dose: str
    route: str
    frequency: str
    times: tuple[str, ...]          # empty: vid behov
    indication: str
    prn_max: int | None = None
    instead: Drug | None = None     # given instead when this one matches an allergy

    @property
    def as_needed(self) -> bool:
        return not self.times


def _prn(drug: str, substance: str, form: str, strength: str, dose: str, route: str, most: int,
         indication: str) -> Drug:
    return Drug(drug, substance, form, strength, dose, route, f"vid behov, max x {most}", (), indication, most)


FURIX = Drug("Furix", "furosemid", "tablett", "40 mg", "40 mg", "po", "x 1", ("08:00",), "Hjärtsvikt")
ENALAPRIL = Drug("Enalapril", "enalapril", "tablett", "5 mg", "5 mg", "po", "x 1", ("08:00",), "Hjärtsvikt/hypertoni")
METOPROLOL = Drug("Metoprolol", "metoprolol", "depottablett", "50 mg", "50 mg", "po", "x 1", ("08:00",), "Frekvensreglering")
FRAGMIN = Drug("Fragmin", "dalteparin", "injektionsvätska", "5000 E", "5000 E", "sc", "x 1", ("20:00",), "Trombosprofylax")
ALVEDON = Drug("Alvedon", "paracetamol", "tablett", "500 mg", "1 g", "po", "x 4", ("08:00", "14:00", "20:00", "02:00"), "Smärta/feber")
PLAVIX = Drug("Clopidogrel", "klopidogrel", "tablett", "75 mg", "75 mg", "po", "x 1", ("08:00",), "Sekundärprevention")
TROMBYL = Drug("Trombyl", "acetylsalicylsyra", "tablett", "75 mg", "75 mg", "po", "x 1", ("08:00",), "Sekundärprevention",
               instead=PLAVIX)
ATORVASTATIN = Drug("Atorvastatin", "atorvastatin", "tablett", "40 mg", "40 mg", "po", "x 1", ("20:00",), "Sekundärprevention")
ELIQUIS = Drug("Eliquis", "apixaban", "tablett", "5 mg", "5 mg", "po", "x 2", ("08:00", "20:00"), "Förmaksflimmer")
DALACIN = Drug("Dalacin", "klindamycin", "infusionsvätska", "150 mg/ml", "600 mg", "iv", "x 3", ("06:00", "14:00", "22:00"),
               "Pneumoni (penicillinallergi)")
BENSYL = Drug("Bensylpenicillin", "bensylpenicillin", "infusionsvätska", "1 g", "3 g", "iv", "x 3", ("06:00", "14:00", "22:00"),
              "Pneumoni", instead=DALACIN)
CIPROXIN = Drug("Ciproxin", "ciprofloxacin", "tablett", "500 mg", "500 mg", "po", "x 2", ("08:00", "20:00"), "Urinvägsinfektion")
SELEXID = Drug("Selexid", "pivmecillinam", "tablett", "200 mg", "400 mg", "po", "x 3", ("08:00", "14:00", "20:00"),
               "Urinvägsinfektion", instead=CIPROXIN)
MERONEM = Drug("Meronem", "meropenem", "infusionsvätska", "1 g", "1 g", "iv", "x 3", ("06:00", "14:00", "22:00"), "Sepsis")
TAZOCIN = Drug("Piperacillin/Tazobactam", "piperacillin, tazobaktam", "infusionsvätska", "4 g/0,5 g", "4 g", "iv", "x 3",
               ("06:00", "14:00", "22:00"), "Sepsis", instead=MERONEM)
PREDNISOLON = Drug("Prednisolon", "prednisolon", "tablett", "10 mg", "40 mg", "po", "x 1", ("08:00",), "KOL-exacerbation")
METFORMIN = Drug("Metformin", "metformin", "tablett", "500 mg", "1 g", "po", "x 2", ("08:00", "20:00"), "Diabetes typ 2")
NOVORAPID = Drug("NovoRapid", "insulin aspart", "injektionsvätska", "100 E/ml", "enligt blodsockerschema", "sc", "x 3",
                 ("07:30", "11:30", "17:30"), "Diabetes")
NEXIUM = Drug("Nexium", "esomeprazol", "injektionsvätska", "40 mg", "40 mg", "iv", "x 2", ("08:00", "20:00"), "Ulcusblödning")
DUROFERON = Drug("Duroferon", "järn(II)sulfat", "depottablett", "100 mg Fe", "100 mg", "po", "x 1", ("08:00",), "Järnbristanemi")
VENTOLINE = _prn("Ventoline", "salbutamol", "inhalationsvätska", "2 mg/ml", "5 mg", "inhalation", 6, "Andnöd")
OXYNORM = _prn("OxyNorm", "oxikodon", "kapsel", "5 mg", "5 mg", "po", 6, "Smärta")
MORFIN = _prn("Morfin", "morfin", "injektionsvätska", "10 mg/ml", "2,5 mg", "sc", 6, "Smärta")
PRIMPERAN = _prn("Primperan", "metoklopramid", "tablett", "10 mg", "10 mg", "po", 3, "Illamående")
IMOVANE = _prn("Imovane", "zopiklon", "tablett", "5 mg", "5 mg", "po", 1, "Sömnbesvär")
MOVICOL = _prn("Movicol", "makrogol", "oral lösning", "13,8 g", "1 dospåse", "po", 2, "Förstoppning")
EXTRA_PRN = (PRIMPERAN, IMOVANE, MOVICOL)


def _lab(*parts: tuple[str, float, float, str]) -> Callable[[random.Random, bool], str]:
    """A result text naming exactly the analyses asked for; ``abnormal`` picks the high range."""
    def make(rng: random.Random, abnormal: bool) -> str:
        out = []
        for name, normal, high, unit in parts:
            value = rng.uniform(high * 0.85, high * 1.3) if abnormal else rng.uniform(normal * 0.9, normal * 1.1)
            shown = f"{value:.1f}".replace(".", ",") if value < 20 else f"{round(value)}"
            out.append(f"{name} {shown} {unit}".rstrip())
        return ", ".join(out)
    return make


BASIC = ("Hb, CRP, Na, K, Kreatinin", _lab(("Hb", 135, 95, "g/L"), ("CRP", 4, 140, "mg/L"), ("Na", 140, 128, "mmol/L"),
                                           ("K", 4.1, 5.6, "mmol/L"), ("Kreatinin", 80, 190, "µmol/L")))
CARDIAC = ("Troponin T, NT-proBNP", _lab(("Troponin T", 8, 450, "ng/L"), ("NT-proBNP", 200, 6500, "ng/L")))
BLOOD = ("Blodstatus, elektrolyter", _lab(("Hb", 135, 82, "g/L"), ("LPK", 7, 16, "x10^9/L"), ("TPK", 250, 90, "x10^9/L"),
                                          ("Na", 140, 129, "mmol/L"), ("K", 4.0, 3.0, "mmol/L")))
GLUCOSE = ("Glukos, HbA1c", _lab(("P-Glukos", 6, 19, "mmol/L"), ("HbA1c", 45, 88, "mmol/mol")))
LIVER = ("ALAT, ASAT, ALP, bilirubin", _lab(("ALAT", 0.5, 3.2, "µkat/L"), ("ASAT", 0.5, 2.6, "µkat/L"),
                                             ("ALP", 1.2, 4.8, "µkat/L"), ("Bilirubin", 12, 68, "µmol/L")))
INR = ("PK(INR)", _lab(("PK(INR)", 1.0, 3.4, "")))


def _culture(positive: str) -> Callable[[random.Random, bool], str]:
    return lambda rng, abnormal: positive if abnormal else "Ingen växt hittills (preliminärt svar)."


BLOOD_CULTURE = ("Blododling x 2", _culture("Växt av Escherichia coli i 2 av 2 flaskor (preliminärt svar)."))
URINE_CULTURE = ("Urinodling", _culture("Växt av Escherichia coli >10^5 CFU/mL, känslig för mecillinam och ciprofloxacin."))


@dataclass(frozen=True)
class Case:
    code: str
    diagnosis: str
    cause: str                              # the admission reason
    intake: str                             # the admission note's assessment
    drugs: tuple[Drug, ...]
    labs: tuple[tuple[str, Callable[[random.Random, bool], str]], ...]
    imaging: tuple[tuple[str, str], ...] = ()   # (examination, answer)
    day_notes: tuple[str, ...] = ()
    warnings: tuple[tuple[str, str, str], ...] = field(default=())   # always recorded for the case


CASES = (
    Case("I50.9", "Hjärtsvikt", "Tilltagande andfåddhet och bensvullnad",
         "Bilaterala underbensödem, krepitationer basalt. Bedöms som hjärtsviktsförsämring; diuretika insätts.",
         (FURIX, ENALAPRIL, METOPROLOL, FRAGMIN), (CARDIAC, BASIC),
         (("Lungröntgen", "Bilaterala pleuravätskor och kärlstas, förenligt med hjärtsvikt."),),
         ("Minskade ödem, vikt ned 1,5 kg sedan inskrivningen.",)),
    Case("J18.9", "Pneumoni", "Feber, hosta och andningspåverkan",
         "Feber 38,9, dämpning och rassel höger basalt, saturation 91 % på luft. Misstänkt pneumoni; antibiotika iv.",
         (BENSYL, ALVEDON, FRAGMIN), (BASIC, BLOOD_CULTURE),
         (("Lungröntgen", "Infiltrat i höger underlob, förenligt med pneumoni."),),
         ("Feberfri sedan i går, CRP sjunkande.", "Kvarstående feber, följer CRP.")),
    Case("I21.9", "Akut hjärtinfarkt", "Bröstsmärta sedan morgonen",
         "Tryckande bröstsmärta, ST-sänkningar i V4–V6. NSTEMI; trombocythämning och statin insätts, kranskärlsröntgen planeras.",
         (TROMBYL, ATORVASTATIN, METOPROLOL), (CARDIAC, BASIC), (),
         ("Smärtfri, inväntar kranskärlsröntgen.",)),
    Case("I48.9", "Förmaksflimmer", "Hjärtklappning och yrsel",
         "Oregelbunden rytm 130/min, EKG visar förmaksflimmer. Frekvensreglering och antikoagulation insätts.",
         (METOPROLOL, ELIQUIS), (BLOOD, BASIC), (),
         ("Frekvens 80–90 i vila, mår bättre.",), (("warning", "Behandlas med antikoagulantia", "high"),)),
    Case("I63.9", "Cerebral infarkt", "Akut insättande svaghet i höger arm",
         "Pares i höger arm sedan 4 timmar, ingen trombolys (utanför tidsfönster). Sekundärprevention insätts.",
         (TROMBYL, ATORVASTATIN, FRAGMIN), (BASIC, BLOOD),
         (("DT hjärna", "Ingen blödning. Lågattenuerande område i vänster hemisfär, förenligt med infarkt."),),
         ("Förbättrad kraft i höger arm, tränar med fysioterapeut.",)),
    Case("J44.1", "KOL med akut exacerbation", "Ökad andfåddhet och slembildning",
         "Känd KOL, ökad dyspné och purulent sputum. Inhalationer och peroral steroid.",
         (PREDNISOLON, VENTOLINE), (BASIC,),
         (("Lungröntgen", "Emfysematösa lungor, inga infiltrat."),),
         ("Mindre andfådd, klarar kortare promenad i korridoren.",)),
    Case("N39.0", "Urinvägsinfektion", "Feber och förvirring",
         "Feber och akut förvirring, ömhet suprapubiskt. Misstänkt urinvägsinfektion; odlingar tagna, antibiotika insätts.",
         (SELEXID, ALVEDON), (BASIC, URINE_CULTURE), (),
         ("Klarare i dag, feberfri.",)),
    Case("A41.9", "Sepsis", "Hög feber och frossa",
         "Feber 39,8, frossa, blodtryck 95/60, laktat förhöjt. Sepsis; blododlingar tagna, bredspektrumantibiotika iv.",
         (TAZOCIN, ALVEDON, FRAGMIN), (BASIC, BLOOD_CULTURE), (),
         ("Cirkulatoriskt stabil, fortsatt iv antibiotika.",)),
    Case("S72.0", "Collumfraktur", "Fall i hemmet, smärta i höften",
         "Förkortat och utåtroterat höger ben efter fall. Collumfraktur; operation planeras, smärtlindring.",
         (ALVEDON, OXYNORM, FRAGMIN), (BASIC, BLOOD),
         (("Höftröntgen", "Dislocerad collumfraktur höger."),),
         ("Opererad i går, mobiliserad till stol med gåbord.",)),
    Case("K35.8", "Akut appendicit", "Buksmärta i höger fossa",
         "Buksmärta i höger fossa sedan ett dygn, släppömhet. Misstänkt appendicit; fastande inför operation.",
         (ALVEDON, MORFIN, PRIMPERAN), (BASIC,),
         (("DT buk", "Förtjockad appendix med omgivande inflammation."),),
         ("Opererad, appendix avlägsnad. Äter lätt kost.",)),
    Case("K80.2", "Gallsten", "Smärta under höger revbensbåge",
         "Smärtattacker efter måltid, ömhet under höger arcus. Gallstensanfall; smärtlindring.",
         (ALVEDON, OXYNORM, PRIMPERAN), (LIVER, BASIC),
         (("Ultraljud buk", "Multipla gallstenar, förtjockad gallblåsevägg."),),
         ("Smärtfri, planeras för elektiv kolecystektomi.",)),
    Case("E11.9", "Diabetes mellitus typ 2", "Högt blodsocker och trötthet",
         "P-glukos 24 vid ankomst, törst och trötthet. Dysreglerad typ 2-diabetes; insulin enligt schema.",
         (METFORMIN, NOVORAPID), (GLUCOSE, BASIC), (),
         ("Blodsocker 8–12 senaste dygnet.",)),
    Case("N17.9", "Akut njursvikt", "Minskade urinmängder",
         "Oliguri och kreatinin 310. Akut njursvikt, trolig prerenal genes; vätska iv, nefrotoxiska läkemedel satta ut.",
         (ALVEDON, FRAGMIN), (BASIC,),
         (("Ultraljud buk", "Normalstora njurar, inga tecken på avflödeshinder."),),
         ("Ökande diures, kreatinin sjunker.",)),
    Case("K92.2", "Gastrointestinal blödning", "Melena och yrsel",
         "Svart avföring i två dygn, Hb 78. Misstänkt ulcusblödning; protonpumpshämmare iv, gastroskopi planeras.",
         (NEXIUM,), (BLOOD, INR), (),
         ("Gastroskopi: ulcus duodeni utan pågående blödning. Hb stabilt.",)),
    Case("D64.9", "Anemi", "Trötthet och andfåddhet vid ansträngning",
         "Blekhet och ansträngningsdyspné, Hb 84. Järnbristanemi; järntillskott, utredning planeras.",
         (DUROFERON,), (BLOOD, BASIC), (),
         ("Hb stabilt, planeras för gastroskopi och koloskopi polikliniskt.",)),
    Case("R55", "Svimning", "Svimning i hemmet",
         "Kortvarig medvetslöshet i stående, snabbt återhämtad. Observation med telemetri.",
         (ALVEDON,), (BLOOD, CARDIAC), (),
         ("Ingen arytmi på telemetri under natten.",)),
)
GENERAL_DAY_NOTES = ("Stabil över natten. Fortsatt behandling enligt plan.", "Samtal med anhöriga om fortsatt vård.",
                     "Planerad utskrivning inom ett par dagar.")
CARE_NOTES = ("Sovit gott. Äter och dricker.", "Hjälp med personlig hygien. Smärta skattad till 3/10.",
              "Mobiliserad med rollator.", "Vätskebalans följs, dryckeslista förs.",
              "Oro under kvällen, lugnad av samtal.")
ALLERGIES = (("allergy", "Penicillinallergi", "high"), ("allergy", "Överkänslighet mot NSAID", "high"),
             ("allergy", "Anafylaxi mot jordnötter", "life_threatening"), ("allergy", "Latexallergi", "high"),
             ("allergy", "Kontrastmedelsreaktion", "high"), ("allergy", "Sulfaallergi", "low"),
             ("warning", "Smittsam: MRSA", "high"), ("warning", "Svår intubation", "life_threatening"),
             ("warning", "Pacemaker", "low"))
STOP_REASONS = ("Ej längre indikation", "Byte till peroral behandling", "Biverkan: illamående",
                "Blodtrycket lågt, pausas", "Behandlingstiden avslutad")
