"""Generate the sample customer-service transcripts shipped with Dial-In Studio.

Why this exists: intent discovery needs realistic, labelled, multi-turn
dialogues to demo and test against, and we cannot ship real customer data.
This script writes hand-authored phrasings into ~300 banking, telecom and
insurance dialogues with gold intent labels, so clustering quality can be
measured. Output is fully determined by the seed, so the committed files in
this folder can be checked byte-for-byte against a fresh run.

Usage (from any directory):
    python sample_data/generate.py [--seed 7] [--n-dialogues 300] [--out DIR]
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent

# How often optional dialogue events happen.
SMALL_TALK_RATE = 0.25
OFF_TOPIC_RATE = 0.08
SWITCH_RATE = 0.1
QUICK_BYE_RATE = 0.45

COMPANIES = {
    "banking": "Northwind Bank",
    "telecom": "Skyline Mobile",
    "insurance": "Harbor Mutual",
}
AGENT_NAMES = ["Priya", "Marcus", "Elena", "Tom", "Aisha", "Daniel", "Sofia", "Kenji"]

# ---------------------------------------------------------------------------
# Slot values. Templates below reference these as {name}.
# ---------------------------------------------------------------------------
CITIES = ["Chicago", "Denver", "Austin", "Seattle", "Boston", "Atlanta", "Phoenix", "Portland"]
COUNTRIES = ["Spain", "Japan", "Mexico", "Canada", "Italy", "Portugal", "Thailand", "Germany"]
MERCHANTS = ["FreshMart", "QuickRide", "Bean There Cafe", "ShopCo", "StreamFlix", "Gas & Go", "Hotel Bellview"]
DATES = ["yesterday", "last Tuesday", "two days ago", "over the weekend", "on Monday",
         "last Friday night", "on the 3rd", "earlier this week"]
CARS = ["2019 Honda Civic", "2021 Toyota RAV4", "2016 Ford F-150", "2020 Subaru Outback", "2018 Mazda 3"]
DRIVERS = ["my son Jake", "my wife Maria", "my daughter Emma", "my husband Tom", "my partner Sam"]
PLANS = ["Unlimited Plus", "Unlimited Max", "Family Share 100", "Data 50"]
CARRIERS = ["BlueWave", "Cellnet", "Orbit Mobile", "Metrolink Wireless"]
BALANCES = ["$1,284.50", "$312.07", "$4,930.00", "$86.12", "$2,017.33"]
LOAN_AMOUNTS = ["$8,000", "$12,000", "$20,000", "$35,000"]
MONTHS = ["24", "36", "48", "60"]
BIRTH_DATES = ["March 3rd, 1988", "12/07/1975", "July 21, 1992", "the 9th of May, 1969"]

# ---------------------------------------------------------------------------
# Generic turns (all carry intent null).
# ---------------------------------------------------------------------------
GREETINGS = [
    "Thank you for calling {company}, my name is {agent}. How can I help you today?",
    "Hi, you've reached {company} support, this is {agent}. What can I do for you?",
    "Welcome to {company}! {agent} speaking, how may I help?",
    "Hello, {agent} here from {company}. How may I assist you?",
    "Hi there! You're chatting with {agent} at {company}. What brings you in today?",
    "Good day, thanks for contacting {company}. I'm {agent}, how can I help?",
]
SMALL_TALK = [  # (customer opener, fitting agent replies)
    ("hi, how are you today?", ["I'm doing well, thanks for asking! What can I do for you today?",
                                "Great, thank you! How can I help?"]),
    ("Hello! Hope you're having a good day.", ["Thank you, you too! What can I help you with?"]),
    ("hey there", ["Hi! What can I do for you?", "Hello! How can I help today?"]),
    ("Hi, thanks for picking up so fast.", ["Of course! What can I help you with?"]),
    ("Good morning!", ["Good morning to you too! What can I do for you?"]),
    ("ugh, I've been on hold for 20 minutes", ["I'm really sorry about the wait. How can I help?",
                                               "Sorry about that, we're busy today. What can I do for you?"]),
    ("Hi, is this the right number for customer support?", ["Yes, you're in the right place. What do you need?"]),
    ("Hello, can you hear me ok?", ["Yes, loud and clear. How can I help today?"]),
]
OFF_TOPIC = [
    "sorry, my dog is barking, one sec",
    "hold on, someone's at the door",
    "sorry, I'm driving, give me a moment",
    "oops, my kid just spilled juice everywhere, hang on",
    "can you hold on a second? my other phone is ringing",
    "sorry, what was that? the connection is really bad",
    "one moment, let me find my glasses",
    "sorry, the train is really loud right now",
]
OFF_TOPIC_REPLIES = [
    "No problem, take your time.",
    "Of course, I'll wait.",
    "No worries at all.",
    "Sure, I'm here whenever you're ready.",
]
SWITCH_LEADS = [
    "Thanks. Oh, and while I have you, ",
    "Great. One more thing: ",
    "Perfect, thank you. Actually, while I'm on the line, ",
    "Ok. Also, ",
    "Before I forget, ",
    "Oh, and another thing, ",
]
THANKS = [
    "great, thank you",
    "Perfect, thanks so much.",
    "ok thanks",
    "awesome",
    "That's a relief, thank you.",
    "thanks!",
    "Thank you, that's really helpful.",
]
ANYTHING_ELSE = [
    "You're welcome! Is there anything else I can help you with?",
    "Glad I could help. Anything else today?",
    "My pleasure. Is there anything else?",
    "Happy to help. Is there something else I can do for you?",
]
NOTHING_ELSE = [
    "no, that's all, thanks",
    "nope, that's it",
    "No, you've been very helpful. Bye!",
    "that's everything, have a good one",
    "No thank you.",
    "nah I'm good",
]
QUICK_BYES = [
    "thanks, bye",
    "ok great, bye!",
    "Thank you, goodbye.",
    "cool, thanks. bye",
]
GOODBYES = [
    "Thanks for contacting {company}. Have a great day!",
    "Take care, goodbye!",
    "You're welcome. Have a lovely evening!",
    "Thank you for being a {company} customer. Goodbye!",
    "Have a good one, bye!",
]

# ---------------------------------------------------------------------------
# Intents. Each has customer openers (first statement of the need), exchanges
# (agent question, possible customer answers) kept in conversational order,
# and agent resolutions.
# ---------------------------------------------------------------------------
ASK_LAST4 = ("For security, can you confirm the last four digits of the card?",
             ["it's {last4}", "yes, the one ending in {last4}", "{last4}", "sure, {last4}"])
ASK_POLICY = ("Can I have your policy number, please?",
              ["it's {policy}", "{policy}", "sure, policy number {policy}", "hang on... ok, {policy}"])
ASK_DOB = ("To verify your identity, can you confirm your date of birth?",
           ["{dob}", "sure, it's {dob}", "{dob}, I think that's what you have on file"])

INTENTS: dict[str, dict] = {
    # ----------------------------------------------------------------- banking
    "check_balance": {
        "domain": "banking",
        "openers": [
            "Hi, can you tell me my current balance?",
            "How much money do I have in my checking account right now?",
            "I need to check my account balance please.",
            "whats my balance",
            "Could you let me know what's left in my savings account?",
            "I'm about to pay rent and want to make sure I have enough in checking. What's the balance?",
            "Can I get the available balance on my account ending in {last4}?",
            "Just wondering how much is in my account at the moment.",
            "hey can u check how much i have left",
            "I'd like to know the balance on my joint account.",
            "My app won't load, so can you tell me my balance over the phone?",
            "Has my paycheck cleared yet? I want to see my balance.",
            "Good morning. I'd like a balance inquiry for my savings, please.",
            "How much is sitting in my account after that {amount} withdrawal?",
            "Quick one: what's my checking balance?",
        ],
        "exchanges": [
            ("Sure, which account would you like the balance for, checking or savings?",
             ["checking please", "The savings one.", "both if you can", "the checking account ending in {last4}"]),
            ASK_LAST4,
            ("Would you like the available balance, or the ledger balance including pending transactions?",
             ["available is fine", "Whatever includes the pending stuff.",
              "what's the difference? the one I can actually spend I guess", "just the available one, thanks"]),
            ("Do you also want me to read out your last few transactions?",
             ["yes please, the last three or so", "no, just the balance",
              "Sure, I want to see if my paycheck came in.", "nah that's ok"]),
        ],
        "resolutions": [
            "Your available balance in checking is {balance}, with one pending transaction of {amount}.",
            "I see {balance} available right now. Your direct deposit posted this morning.",
            "The current balance is {balance}. I've also sent your recent activity to your secure inbox.",
        ],
    },
    "report_lost_card": {
        "domain": "banking",
        "openers": [
            "I lost my debit card and need to block it.",
            "I think my card was stolen, can you freeze it right away?",
            "i cant find my credit card anywhere",
            "My wallet got stolen on the train this morning and my card was in it.",
            "Hi, I need to report a lost card.",
            "I left my card at a restaurant in {city} and I'm worried someone will use it.",
            "Someone took my purse, please cancel my card ending in {last4}.",
            "My card's gone missing. What do I do?",
            "I'd like to report my Visa as lost, please.",
            "I dropped my card somewhere between the gym and home, can you lock it?",
            "Pretty sure my card fell out of my pocket, I need a new one.",
            "my card got stolen!! please help",
            "Hello, I misplaced my bank card yesterday and want to make sure it's blocked.",
            "Can you deactivate my card? I lost it while traveling.",
        ],
        "exchanges": [
            ("I'm sorry to hear that. Can you confirm the last four digits of the card?",
             ["it's {last4}", "yes, the one ending in {last4}", "I think it ends in {last4}"]),
            ("When did you last have the card?",
             ["it was {date}", "I last used it {date} at {merchant}", "probably {date}, not totally sure",
              "last night at dinner"]),
            ("Have you noticed any transactions you don't recognize?",
             ["no, nothing weird so far", "yes, there's a charge for {amount} I didn't make",
              "I haven't checked yet, can you look?", "not that I can see"]),
            ("Would you like a replacement card sent to the address on file?",
             ["yes please", "Yes, but can you send it to my work address?", "yes, how long will it take?",
              "yeah same address is fine"]),
        ],
        "resolutions": [
            "I've blocked the card ending in {last4}, and a replacement will arrive in 5 to 7 business days.",
            "Done. The old card is permanently cancelled and a new one is on the way.",
            "The card is now frozen. I've ordered a replacement with expedited shipping at no charge.",
        ],
    },
    "dispute_transaction": {
        "domain": "banking",
        "openers": [
            "There's a charge on my statement I don't recognize.",
            "I want to dispute a transaction for {amount} from {merchant}.",
            "I was charged twice for the same purchase at {merchant}.",
            "someone charged {amount} to my card and it wasnt me",
            "Hi, I returned an item weeks ago and never got the refund, so I want to dispute it.",
            "There's a payment to {merchant} I never authorized.",
            "Can you help me contest a charge? The merchant won't respond.",
            "I see a {amount} debit I definitely didn't make.",
            "I'd like to raise a chargeback on a purchase.",
            "My card was charged for a subscription I cancelled months ago.",
            "Hello, I need to dispute something on my last statement.",
            "The ATM didn't give me any cash but my account was still debited {amount}.",
            "Why is there a charge from {merchant}? I've never shopped there.",
            "I got billed the wrong amount at a hotel in {city}, can you reverse it?",
        ],
        "exchanges": [
            ("I can help with that. What was the amount and the date of the charge?",
             ["it was {amount}, {date}", "{amount}, I think it posted {date}", "around {amount}, sometime {date}"]),
            ("Which merchant does it show on your statement?",
             ["it says {merchant}", "{merchant}, but I've never been there",
              "something like {merchant}, the description is weird"]),
            ("Have you tried contacting the merchant directly?",
             ["yes, they never answered", "no, I didn't think it was worth it",
              "I tried twice, they keep saying it's the bank's problem", "I emailed them {date} and got nothing back"]),
            ("Do you still have your card in your possession?",
             ["yes I have it right here", "yes, it's in my wallet",
              "I do. The number is 4111 1111 1111 1111 if you need it"]),
        ],
        "resolutions": [
            "I've opened a dispute for {amount} and issued a provisional credit while we investigate. "
            "You'll hear back within 10 business days.",
            "The dispute is filed under reference DP-{ref}. We'll contact the merchant and update you by email.",
            "I've submitted the chargeback. As a precaution, I'd also recommend we reissue your card.",
        ],
    },
    "transfer_money": {
        "domain": "banking",
        "openers": [
            "I need to transfer {amount} to my savings account.",
            "How do I send money to someone at another bank?",
            "Can you move {amount} from checking to savings for me?",
            "I want to wire money to my sister in {city}.",
            "i need to send {amount} to my landlord today",
            "Hi, I'd like to make a transfer between my accounts.",
            "What's the fastest way to get money to my son? He's studying in {country}.",
            "Could you help me set up a recurring transfer every month?",
            "My transfer limit in the app is too low, can you do a transfer of {amount} for me?",
            "I'd like to send an international wire, please.",
            "Trying to pay back a friend, how do I transfer to their account?",
            "Please transfer {amount} into my joint account.",
            "How long does a transfer to another bank take? I need to send {amount}.",
            "Hello, I want to move some money around between my accounts.",
        ],
        "exchanges": [
            ("Sure. Which account should the money come from?",
             ["from my checking", "checking, the one ending in {last4}", "take it out of savings please"]),
            ("Do you have the recipient's account details ready?",
             ["yes, I have them here", "I have the account and routing number",
              "it's my own account, so you should have it", "hang on, let me grab them... ok, ready"]),
            ("How much would you like to send, and when?",
             ["{amount}, today if possible", "{amount} on the first of every month", "just {amount}, right away please",
              "{amount}, it needs to arrive by Friday"]),
            ("Can you confirm you want to go ahead with the transfer?",
             ["yes, go ahead", "yep, confirmed", "yes please do it", "Yes. Is there a fee?"]),
        ],
        "resolutions": [
            "The transfer of {amount} is complete. You'll see it in the receiving account within one business day.",
            "All set. I've scheduled the transfer and sent a confirmation to your email.",
            "Done, reference number TR-{ref}. External transfers usually land within 1 to 3 business days.",
        ],
    },
    "activate_card": {
        "domain": "banking",
        "openers": [
            "I just got my new card in the mail and need to activate it.",
            "How do I activate my replacement card?",
            "my new card isn't working, do i need to activate it?",
            "Hi, calling to activate a card.",
            "The card I received says to call to activate, so here I am.",
            "I tried activating my card online but it keeps failing.",
            "Can you activate the card ending in {last4}?",
            "My card got declined at {merchant}, I think it's because I never activated it.",
            "Got the new chip card today, what's the activation process?",
            "I'd like to activate my credit card, please.",
            "The app won't let me activate my new debit card.",
            "Hello! New card arrived, can we turn it on?",
            "I need my card working before my trip to {city} tomorrow.",
            "how to activate card",
        ],
        "exchanges": [
            ("Happy to help. Can you read me the last four digits on the new card?",
             ["{last4}", "it ends in {last4}", "the full number is 4111 1111 1111 1111"]),
            ASK_DOB,
            ("Would you like to set a PIN for the card now?",
             ["yes, let's do that", "I'll do it at the ATM later", "sure",
              "No, can I keep the PIN from my old card?"]),
            ("Did the card arrive sealed and undamaged?",
             ["yes, everything looked fine", "yes it was sealed", "the envelope was a bit torn but the card is fine"]),
        ],
        "resolutions": [
            "Your card ending in {last4} is now active and ready to use.",
            "Activation complete. Your old card has been deactivated automatically.",
            "The card is active. It may take a few minutes before contactless payments work.",
        ],
    },
    "loan_inquiry": {
        "domain": "banking",
        "openers": [
            "I'm interested in taking out a personal loan.",
            "What are your current interest rates for car loans?",
            "Can I apply for a mortgage over the phone?",
            "I'd like to know how much I could borrow for a home renovation.",
            "do you guys do small loans? i need like {loan_amount}",
            "Hi, I'm thinking about financing a car and wanted to ask about loans.",
            "What would the monthly payment be on a {loan_amount} loan?",
            "I have a question about refinancing my mortgage.",
            "Am I eligible for a loan if I'm self-employed?",
            "Could you tell me about your student loan options?",
            "I want to consolidate my credit card debt into one loan, is that possible?",
            "Hello, I'd like some information on borrowing {loan_amount}.",
            "What's the process for getting pre-approved?",
            "How long does a loan application usually take to get approved?",
        ],
        "exchanges": [
            ("Sure. Do you already bank with us?",
             ["yes, I've banked here for years", "yes, I have a checking account with you", "no, not yet"]),
            ("How much would you like to borrow?",
             ["around {loan_amount}", "{loan_amount} roughly", "maybe {loan_amount}, depending on the rate"]),
            ("Over what term would you like to repay it?",
             ["{months} months", "as long as possible to keep payments low", "probably {months} months"]),
            ("Can I ask roughly what your annual income is?",
             ["about $65,000", "around $90k a year", "I'd rather not say over the phone",
              "roughly $48,000 plus some freelance work"]),
        ],
        "resolutions": [
            "Based on that, you'd likely qualify for around 7.9% APR. I've emailed you a pre-approval link.",
            "I've started a pre-qualification for you. It's a soft credit check, so it won't affect your score.",
            "A loan officer will call you within two business days to go over the options in detail.",
        ],
    },
    "change_pin": {
        "domain": "banking",
        "openers": [
            "I want to change the PIN on my debit card.",
            "I forgot my PIN, can I reset it?",
            "how do i change my pin number",
            "I think someone saw me enter my PIN, I'd like a new one.",
            "Can I update my card PIN over the phone?",
            "My card got locked after too many wrong PIN attempts.",
            "Hi, I need to reset the PIN for my card ending in {last4}.",
            "I'd like to pick a new PIN that's easier to remember.",
            "The ATM keeps saying my PIN is incorrect.",
            "Is it possible to change my credit card PIN?",
            "i keep forgetting my pin lol, can i change it",
            "Hello, I want to set a new PIN please.",
            "I never received a PIN for my new card.",
            "Could you help me reset my PIN before I travel to {country}?",
        ],
        "exchanges": [
            ASK_LAST4,
            ("I'll send a one-time code to the phone number on file. Can you read it back to me?",
             ["got it, it's {code}", "yes, the code is {code}", "hang on... ok it's {code}"]),
            ("Is the card currently blocked after wrong attempts?",
             ["yeah it says it's locked", "I don't think so", "not sure, it just got declined at the ATM"]),
            ("Would you prefer to set the new PIN through our automated line or at an ATM?",
             ["the automated line is fine", "ATM is easier for me", "whichever is faster"]),
        ],
        "resolutions": [
            "Your PIN has been reset. You can choose the new one at any of our ATMs.",
            "I've unlocked the card and I'm transferring you to the secure line to enter your new PIN.",
            "Done. Your new PIN works immediately for purchases and ATM withdrawals.",
        ],
    },
    "close_account": {
        "domain": "banking",
        "openers": [
            "I'd like to close my checking account.",
            "I want to shut down my savings account, please.",
            "how do i close my account",
            "I'm moving to another bank and need to close everything here.",
            "Please close the account ending in {last4}.",
            "Hi, I'd like to cancel my account. I'm not happy with the fees.",
            "We're consolidating our finances, so I need to close my old joint account.",
            "What do I need to do to close my account?",
            "I'm relocating to {country} and want to close my account before I leave.",
            "Can I close my account over the phone or do I have to go to a branch?",
            "I don't use this account anymore, can you close it?",
            "Hello, I want to end my banking relationship with you.",
            "Please close my account and send me the remaining balance.",
            "I opened an account by mistake, can I close it?",
        ],
        "exchanges": [
            ("I'm sorry to see you go. Is there anything we could do to keep your business?",
             ["no, I've decided", "not really, thanks", "lower fees would have helped, but it's too late now"]),
            ("Can you confirm the account number you'd like to close?",
             ["account 12345678", "it's account 12345678", "the checking account ending in {last4}"]),
            ("How would you like to receive the remaining balance?",
             ["transfer it to my account at another bank", "send me a check please", "move it into my savings here"]),
            ("Are there any automatic payments or direct deposits still linked to the account?",
             ["no, I moved them all already", "just my gym membership, I'll cancel it", "I don't think so"]),
        ],
        "resolutions": [
            "The account is scheduled to close today. Your remaining balance of {balance} will be sent within 5 days.",
            "I've submitted the closure request. You'll get a confirmation letter in the mail.",
            "Done. The account is closed and the funds have been transferred.",
        ],
    },
    "update_contact_info": {
        "domain": "banking",
        "openers": [
            "I need to update my email address on file.",
            "I moved recently, can you change my mailing address?",
            "My phone number changed, how do I update it?",
            "hi, can you update my contact details",
            "Please change my address, I've moved to {city}.",
            "I'm not getting your emails, I think you have my old address.",
            "Please change my email to jane.doe@example.com.",
            "I'd like to change the email my statements go to.",
            "we just moved house so I need to update my address",
            "Hello, I got married and need to update my name and email.",
            "The mobile number on my account is wrong.",
            "How do I change my mailing address for my cards?",
            "I want my statements sent to a new address.",
            "Can you update my phone number to +1 555-0134?",
        ],
        "exchanges": [
            ASK_DOB,
            ("While I'm updating things, what email address should we have on file?",
             ["it's jane.doe@example.com", "jane.doe@example.com", "use john.smith@example.org please"]),
            ("What's the best phone number to reach you?",
             ["+1 555-0134", "you can reach me at +1 555-0134", "same as before, no change"]),
            ("What's the new mailing address?",
             ["42 Maple Street, {city}", "1180 Harbor Drive, Apt 3, {city}", "it's 7 Oak Lane in {city}"]),
        ],
        "resolutions": [
            "Your contact details are updated. We've sent a confirmation to both the old and new addresses.",
            "All done. Future statements will go to your new details.",
            "I've made the change. For security, your online banking will ask you to re-verify next time you log in.",
        ],
    },
    # ----------------------------------------------------------------- telecom
    "report_network_outage": {
        "domain": "telecom",
        "openers": [
            "My internet has been down since this morning.",
            "I have no signal at all on my phone.",
            "is there an outage in {city}? nothing is working",
            "My calls keep dropping and I can't load anything.",
            "Hi, the network's been down in my area for hours.",
            "I can't make calls or send texts since {date}.",
            "The fiber connection at home keeps cutting out every few minutes.",
            "Is something wrong with your network? My phone just says SOS only.",
            "Our whole office lost internet about an hour ago.",
            "no service again!! this is the third time this week",
            "My mobile data stopped working even though I have plenty left.",
            "Hello, I'd like to report a network problem in {city}.",
            "The router lights are all red and nothing connects.",
            "Are you aware of any outage near downtown {city}?",
        ],
        "exchanges": [
            ("I'm sorry about that. Where are you experiencing the issue?",
             ["downtown {city}", "at my home address in {city}", "near the train station in {city}"]),
            ("When did you first notice the problem?",
             ["{date}", "it started {date}", "around 8am today", "it's been on and off since {date}"]),
            ("Have you tried restarting your phone or router?",
             ["yes, twice", "yeah, I've restarted everything, no luck",
              "not yet, hold on... ok it's still not working", "I unplugged the router for a minute, still nothing"]),
            ("Is it affecting calls, data, or both?",
             ["both", "just data, calls work", "calls mostly, data is slow", "everything"]),
        ],
        "resolutions": [
            "There's a known outage affecting {city}. Engineers are on site and service should be back within 4 hours.",
            "I've logged fault ticket NT-{ref} and applied a credit to your account for the downtime.",
            "I've reset your line from our end. Give it 10 minutes; if it's still down, a technician can visit tomorrow.",
        ],
    },
    "upgrade_plan": {
        "domain": "telecom",
        "openers": [
            "I'd like to upgrade to a plan with more data.",
            "What unlimited plans do you have?",
            "I keep running out of data every month, can I get a bigger plan?",
            "can i switch to the {plan} plan",
            "I'm interested in upgrading my phone and plan.",
            "Is there a plan with international calling included? I want to upgrade.",
            "Hi, I want to add more gigs to my plan.",
            "My contract is up for renewal, what upgrade options do I have?",
            "I'd like to move my family onto a bigger shared plan.",
            "Can I get faster home internet? The current speed isn't enough.",
            "What would it cost to go up to {plan}?",
            "Hello, the app says I'm eligible for an upgrade.",
            "I work from home now so I need a better internet package.",
            "thinking about upgrading, what's the best deal right now?",
        ],
        "exchanges": [
            ("Sure. How much data do you typically use in a month?",
             ["around 20 gigs", "I usually run out around day 20", "no idea, a lot of streaming", "about 40GB I think"]),
            ("Would you like to keep your current phone or upgrade the device too?",
             ["just the plan", "I'd like a new phone as well", "keep the phone, it's fine"]),
            ("The {plan} plan is {price} per month. Would you like to switch?",
             ["yes, let's do it", "that's a bit more than I wanted, is there a promo?",
              "sure, starting next billing cycle", "ok sounds good"]),
            ("Should the change take effect now or at the start of your next bill?",
             ["right away please", "next bill is fine", "now, I'm almost out of data"]),
        ],
        "resolutions": [
            "You're now on {plan}. The new allowance is active immediately and the bill will be prorated.",
            "Done. The upgrade starts on your next billing date, and I've emailed the plan details.",
            "I've applied the upgrade plus a $10 monthly loyalty discount for the first year.",
        ],
    },
    "billing_dispute": {
        "domain": "telecom",
        "openers": [
            "My bill is way higher than usual this month.",
            "I was charged {amount} for something I didn't order.",
            "why is my bill so high??",
            "There's a roaming charge on my bill but I never left the country.",
            "I think I was charged twice this month.",
            "Hi, I'd like to dispute a charge on my latest invoice.",
            "You charged me an early termination fee that I shouldn't have to pay.",
            "My promotional discount didn't get applied to this bill.",
            "There's a {amount} premium SMS charge I know nothing about.",
            "The amount on my bill doesn't match what I agreed to when I signed up.",
            "I'm being billed for a line I cancelled last month.",
            "Hello, can someone explain these extra fees on my bill?",
            "I got charged for overage even though I have unlimited data.",
            "This month's bill is {amount} more than it should be.",
        ],
        "exchanges": [
            ("Which charge on the bill are you referring to?",
             ["the {amount} one near the bottom", "the one labeled additional services, {amount}",
              "the {amount} charge, I have the bill right in front of me"]),
            ("Which billing period is this for?",
             ["this month's bill", "the one that came {date}", "the last two bills actually"]),
            ("Have you added any services or made changes to your account recently?",
             ["no, nothing at all", "I don't think so",
              "I called once to ask about a plan but didn't change anything"]),
        ],
        "resolutions": [
            "I've reversed the {amount} charge; you'll see the credit on your next bill.",
            "That fee was applied in error. I've removed it and added a goodwill credit of $15.",
            "I've raised a billing review, reference BL-{ref}. You won't be charged for it while it's under review.",
        ],
    },
    "cancel_contract": {
        "domain": "telecom",
        "openers": [
            "I want to cancel my contract.",
            "I'm thinking of leaving, how do I cancel my service?",
            "please cancel my internet, I'm moving to {city}",
            "How much would it cost to end my contract early?",
            "Hi, I'd like to terminate my mobile contract.",
            "I'd like to cancel my line, the service has been terrible.",
            "Can I cancel without paying an early termination fee?",
            "My contract ends next month and I don't want it to renew.",
            "i want to cancel everything, tv internet phone all of it",
            "I found a cheaper deal elsewhere so I'd like to cancel.",
            "I need to cancel the second line on my account.",
            "What's the notice period for cancelling?",
            "I'm going abroad for a year and want to cancel my plan.",
            "Can you close my account with you? I'm switching providers.",
        ],
        "exchanges": [
            ("I'm sorry to hear that. Can I confirm the account holder's full name?",
             ["Jane Doe", "it's under my name, Jane Doe", "Jane Doe, D-O-E"]),
            ("Before you go, I can offer you 20% off for the next 12 months. Would that change your mind?",
             ["no thanks, I've made up my mind", "hmm, that's tempting, but no",
              "honestly no, the service is the problem, not the price"]),
            ("Which lines or services would you like to cancel?",
             ["everything on the account", "just the line ending in {last4}", "only the home internet"]),
            ("When would you like the cancellation to take effect?",
             ["as soon as possible", "at the end of this billing cycle", "on the first of next month"]),
        ],
        "resolutions": [
            "Your cancellation is confirmed for the end of this billing cycle. You'll get a final bill by email.",
            "Done. There's an early termination fee of {amount}, which will appear on your final invoice.",
            "I've processed the cancellation. Please return the router within 30 days using the prepaid label.",
        ],
    },
    "roaming_activation": {
        "domain": "telecom",
        "openers": [
            "I'm traveling to {country} next week, can you turn on roaming?",
            "How do I activate international roaming?",
            "Will my phone work in {country}?",
            "i need roaming on my phone for a trip",
            "Hi, I'm going abroad and want to make sure I can use data there.",
            "What does roaming cost in {country}?",
            "Can you add a travel pass to my line? Heading to {country} on Friday.",
            "I just landed in {country} and my phone has no service.",
            "Do I need to do anything to use my phone overseas?",
            "Please enable roaming on my account for the next two weeks.",
            "I'd like to set up international data before my business trip.",
            "Is there a daily roaming package for {country}?",
            "Hello, my daughter is studying in {country} and needs roaming on her line.",
            "going to {country} for vacation, what's the cheapest way to keep my number working?",
        ],
        "exchanges": [
            ("Which country will you be visiting, and for how long?",
             ["{country}, for about two weeks", "{country}, 10 days", "just {country}, a week"]),
            ("We have a daily pass at $10 per day or a monthly pass for $60. Which would you prefer?",
             ["the daily one", "monthly makes more sense for me", "daily, I won't use it every day"]),
            ("Should I turn it on for the line ending in {last4}?",
             ["yes that's my line", "yes please", "no, on my wife's line, it ends in 8812"]),
            ("When should the roaming start?",
             ["starting Friday", "from tomorrow morning", "right now, I'm already here"]),
        ],
        "resolutions": [
            "Roaming is now active for {country}. You'll get a text with the rates when you land.",
            "I've added the travel pass. It kicks in automatically the first time you use your phone abroad.",
            "All set. Just make sure data roaming is switched on in your phone's settings.",
        ],
    },
    "port_number": {
        "domain": "telecom",
        "openers": [
            "I want to bring my number over from {carrier}.",
            "How do I transfer my phone number to you?",
            "Can I keep my old number if I switch to your network?",
            "i'm switching from {carrier}, how do i port my number",
            "Hi, my number port has been stuck for three days.",
            "I'd like to move my existing number to a new SIM with you.",
            "What do I need to port a number?",
            "My new SIM is active but my old number hasn't transferred yet.",
            "I'm leaving {carrier} and want to keep my number.",
            "Hello, I need help porting two numbers from my old provider.",
            "Can you check the status of my number transfer?",
            "I got a temporary number but I want my real one back.",
            "Is it possible to port a landline number to a mobile plan?",
            "the port from {carrier} failed, what happened?",
        ],
        "exchanges": [
            ("Which provider are you moving the number from?",
             ["{carrier}", "it's with {carrier} right now", "{carrier}, prepaid"]),
            ("I'll need your account number and transfer PIN from your old provider. Do you have those?",
             ["yes, it's account 12345678 and the PIN is 4410", "I have the PIN, it's 2291", "no, how do I get those?"]),
            ("What's the number you'd like to port?",
             ["+1 555-0134", "my number is +1 555-0134", "it's the one I'm calling from"]),
            ("Please don't cancel your old service until the port completes. Is that ok?",
             ["yes, understood", "ok, I won't", "got it, how long does it take?"]),
        ],
        "resolutions": [
            "The port request is submitted. Your number should move over within 24 hours.",
            "I found the problem: the PIN didn't match. I've resubmitted it, so it should complete today.",
            "Your port is complete. Restart your phone and your old number will be active on the new SIM.",
        ],
    },
    "replace_sim": {
        "domain": "telecom",
        "openers": [
            "My SIM card is damaged and I need a new one.",
            "I need a replacement SIM, my phone says no SIM.",
            "can i get an esim instead of a physical sim",
            "I lost my phone, so I need a new SIM for my backup phone.",
            "Hi, my SIM stopped working after I dropped my phone in water.",
            "My new phone uses a smaller SIM, can you send me one?",
            "I'd like to switch to eSIM please.",
            "How do I order a new SIM card?",
            "The SIM keeps saying invalid and I can't make calls.",
            "My phone suddenly lost service and says SIM not provisioned.",
            "Can I pick up a replacement SIM at a store in {city}?",
            "Hello, I need a new SIM for my tablet's data line.",
            "my sim card broke when i took it out, need a new one",
            "Is there a fee to replace a SIM card?",
        ],
        "exchanges": [
            ("Would you like a physical SIM or an eSIM?",
             ["eSIM please", "physical, my phone doesn't support eSIM", "whichever is quicker"]),
            ("Which line is the SIM for?",
             ["the line ending in {last4}", "my main number", "my son's line"]),
            ("Should we ship it to your address on file, or would you rather pick it up in store?",
             ["ship it please", "I'll pick it up at the store in {city}", "ship, but express if possible"]),
            ("For security, can you tell me the passcode on your account?",
             ["it's 4410", "2291", "I don't remember setting one"]),
        ],
        "resolutions": [
            "Your new SIM ships today and should arrive in 2 to 3 days. Your old SIM has been deactivated.",
            "I've emailed you an eSIM QR code. Scan it from your phone's settings and you'll be back online.",
            "The replacement is reserved at our {city} store. Bring a photo ID when you pick it up.",
        ],
    },
    "check_data_usage": {
        "domain": "telecom",
        "openers": [
            "How much data have I used this month?",
            "Can you tell me how much data I have left?",
            "i got a text saying i'm almost out of data, is that right?",
            "Hi, I want to check my data usage.",
            "Why has my data run out already? It's only the 10th.",
            "How many gigs are left on my plan?",
            "My app shows zero data left but I've barely used my phone.",
            "Could you check what's been eating up my data?",
            "When does my data allowance reset?",
            "Hello, can you check the usage on my daughter's line?",
            "I'd like a breakdown of my data usage for the last month.",
            "Am I close to my data cap?",
            "how much data did i use while i was in {country}?",
            "Can you tell me if I've gone over my limit this month?",
        ],
        "exchanges": [
            ("Which line would you like me to check?",
             ["mine, ending in {last4}", "my daughter's line", "all lines on the account please"]),
            ("Would you like a breakdown by app, or just the total?",
             ["just the total", "the breakdown would be great", "total is fine"]),
            ("Would you like me to set up a usage alert at 80%?",
             ["yes, that'd help", "no thanks", "sure, send it by text"]),
        ],
        "resolutions": [
            "You've used 18.4 GB of your 25 GB so far, and your allowance resets on the 1st.",
            "Most of the usage is video streaming in the background. I've sent you tips to limit it.",
            "That line has 2.1 GB left this cycle. I've set up the alert so you'll get a text at 80%.",
        ],
    },
    # --------------------------------------------------------------- insurance
    "file_claim": {
        "domain": "insurance",
        "openers": [
            "I was in a car accident and need to file a claim.",
            "A pipe burst in my kitchen, I'd like to make a claim.",
            "someone hit my car in a parking lot, how do i claim",
            "Hi, I need to report a claim. My house was broken into {date}.",
            "Our roof was damaged in the storm, can I file a claim?",
            "My phone got stolen in {city}, is that covered and how do I claim?",
            "I'd like to start a claim for water damage in my basement.",
            "I rear-ended someone {date}. Nobody was hurt but both cars are damaged.",
            "A tree fell on my garage last night.",
            "How do I file an insurance claim for a cracked windshield?",
            "Hello, I need to open a claim for my {car}.",
            "My laptop was ruined when my apartment flooded.",
            "I hit a deer on the highway and the front of my car is smashed.",
            "we had a kitchen fire, i need to file a claim asap",
        ],
        "exchanges": [
            ("I'm sorry that happened. Is everyone safe?",
             ["yes, everyone's fine", "yeah, just shaken up", "yes thankfully nobody was hurt"]),
            ("When and where did it happen?",
             ["{date} in {city}", "it happened {date}, near our house in {city}", "{date}, on the highway outside {city}"]),
            ASK_POLICY,
            ("Do you have photos of the damage?",
             ["yes, I took a bunch", "I can take some now", "yes, and a police report too", "only a couple, it was dark"]),
        ],
        "resolutions": [
            "Your claim has been filed under {claim}. An adjuster will contact you within 48 hours.",
            "I've opened claim {claim}. You can upload photos in the app, and we'll arrange a repair shop.",
            "The claim is registered. Since it's urgent, I've also authorized emergency repairs up to {amount}.",
        ],
    },
    "claim_status": {
        "domain": "insurance",
        "openers": [
            "I'm calling to check on the status of my claim.",
            "Any update on claim {claim}?",
            "it's been three weeks and i haven't heard anything about my claim",
            "Hi, has my claim been approved yet?",
            "When will I get paid for my claim?",
            "I submitted photos for my claim last week, did you get them?",
            "Can you tell me where my claim is in the process?",
            "The adjuster was supposed to call me {date} but never did.",
            "I'd like to know if my repair shop has been paid yet.",
            "Hello, following up on the claim I filed for my {car}.",
            "Why is my claim taking so long?",
            "Is my claim still under review?",
            "I got a letter about my claim but I don't understand it.",
            "what's happening with my water damage claim",
        ],
        "exchanges": [
            ("Can you give me the claim number?",
             ["it's {claim}", "{claim}", "I don't have it handy, can you look it up by my policy, {policy}?"]),
            ASK_DOB,
            ("Have you received any letters or emails from the adjuster so far?",
             ["just the first one confirming the claim", "nothing at all", "one email asking for photos, which I sent"]),
        ],
        "resolutions": [
            "Claim {claim} was approved yesterday; a payment of {amount} should reach you within 5 business days.",
            "It's still with the adjuster, who's waiting on the repair estimate. I've flagged it as a priority.",
            "The claim is in final review. I've asked the adjuster to call you by tomorrow.",
        ],
    },
    "update_policy": {
        "domain": "insurance",
        "openers": [
            "I need to update my policy, I moved to {city}.",
            "I bought a new car and want to switch my policy to it.",
            "Can I change the deductible on my policy?",
            "i want to add my new jewelry to my home insurance",
            "Hi, I need to change the address on my policy.",
            "I'd like to increase my coverage limits.",
            "We finished a renovation so I think our home policy needs updating.",
            "Can I change my payment from monthly to annual?",
            "I'm not using my car much anymore, can I lower the mileage on my policy?",
            "Hello, I need to update the beneficiary on my life insurance.",
            "I want to switch my policy over to my {car}.",
            "How do I change the bank account my premium comes out of?",
            "I'd like to get the home security discount added to my policy.",
            "Can you update my policy? My name changed after I got married.",
        ],
        "exchanges": [
            ASK_POLICY,
            ("Are you the named policyholder?",
             ["yes, it's in my name", "yes", "it's in my wife's name, but I'm listed on it too"]),
            ("When should the change take effect?",
             ["immediately", "from the first of next month", "as of {date}, that's when it changed"]),
            ("This will change your premium to {price} a month. Do you want to proceed?",
             ["yes, that's fine", "ok, go ahead", "hmm, ok, yes"]),
        ],
        "resolutions": [
            "Your policy {policy} is updated, and the new documents are in your online account.",
            "Done. The change takes effect as requested and your next payment will reflect it.",
            "I've updated the policy and emailed you a revised declarations page.",
        ],
    },
    "get_quote": {
        "domain": "insurance",
        "openers": [
            "I'd like a quote for car insurance.",
            "How much would home insurance cost for a house in {city}?",
            "can i get a quote for renters insurance",
            "Hi, I'm shopping around for auto insurance and want a quote.",
            "What would it cost to insure my {car}?",
            "I'm buying my first house and need a homeowner's quote.",
            "Do you offer bundle discounts? I'd like a quote for home and auto.",
            "Could you give me a price for travel insurance to {country}?",
            "I just got my license and need a quote.",
            "My current insurer raised my rates, what would you charge?",
            "Hello, I want to know how much life insurance would cost me.",
            "Could you quote me on a motorcycle policy?",
            "Is it possible to get an estimate without a credit check?",
            "how much for full coverage on a {car}",
        ],
        "exchanges": [
            ("Happy to help. Is this just for you, or for others in your household too?",
             ["just me", "me and my partner", "the whole family"]),
            ("When would you like the coverage to start?",
             ["as soon as possible", "next month", "on the 1st, when my current policy runs out"]),
            ("Have you had any claims or accidents in the past five years?",
             ["no, clean record", "one small fender bender about three years ago", "nope"]),
            ("Which city are you based in?",
             ["in {city}", "{city}, downtown", "just outside {city}"]),
        ],
        "resolutions": [
            "Based on that, your estimated premium is {price} per month. I've emailed the full quote.",
            "I can offer {price} a month, and bundling home and auto would save you another 12%.",
            "Your quote reference is Q-{ref}. It's valid for 30 days if you'd like to think it over.",
        ],
    },
    "cancel_policy": {
        "domain": "insurance",
        "openers": [
            "I want to cancel my insurance policy.",
            "Please cancel my car insurance, I sold the car.",
            "how do i cancel my policy",
            "I found a cheaper policy elsewhere, so I'd like to cancel mine.",
            "Hi, I need to cancel my renters insurance, I'm moving in with my parents.",
            "Can I cancel my policy mid-term and get a refund?",
            "I'd like to cancel my travel insurance, the trip to {country} got called off.",
            "We're moving abroad, so please cancel our home policy.",
            "Hello, I'd like to end my policy at renewal.",
            "Is there a fee to cancel my policy early?",
            "I no longer need the insurance on my {car}.",
            "Please don't renew my policy, I want to cancel.",
            "I want to cancel policy {policy} effective immediately.",
            "I'm closing my small business and need to cancel its liability policy.",
        ],
        "exchanges": [
            ("I'm sorry to see you go. Would you like me to check whether we can offer a better rate first?",
             ["no thanks, my mind's made up", "no, I really don't need it anymore", "I appreciate it, but no"]),
            ASK_POLICY,
            ("What date should the cancellation take effect?",
             ["today", "end of the month", "whenever the current term ends"]),
            ("Any unused premium will be refunded. Should it go back to the card on file?",
             ["yes, the card is fine", "can you send a check instead?", "yes please"]),
        ],
        "resolutions": [
            "Policy {policy} is cancelled. Your refund of {amount} will be issued within 7 to 10 days.",
            "The cancellation is set for the date you asked. You'll receive a confirmation letter.",
            "I've cancelled the policy. There's no fee, and the unused premium will be refunded.",
        ],
    },
    "add_driver": {
        "domain": "insurance",
        "openers": [
            "I'd like to add {driver} to my car insurance.",
            "Can I add a driver to my policy?",
            "{driver} needs to be on my auto policy",
            "Hi, I need to add {driver} as a driver on my car.",
            "How much more would it cost to add a teenage driver?",
            "So {driver} is going to be driving my {car} a lot, can I add them?",
            "I want to add a named driver for a couple of weeks.",
            "Can someone be added to the policy just while they're home from college?",
            "Hello, I want to put {driver} on my insurance.",
            "What do you need from me to add another driver?",
            "We bought a second car and {driver} needs to be added to the policy.",
            "Is it possible to add a driver with a foreign license?",
            "need to add a new driver asap, they're driving tomorrow",
            "I'd like to add an occasional driver to my auto insurance.",
        ],
        "exchanges": [
            ("Who would you like to add, and how are they related to you?",
             ["{driver}", "it's {driver}", "{driver}, they live with me"]),
            ("What's their date of birth and how long have they been licensed?",
             ["born in 2007, licensed two months ago", "1985, licensed for 20 years",
              "17, just got the license {date}"]),
            ("Will they be the main driver of any vehicle?",
             ["no, just occasionally", "yes, the {car} mostly", "they'll share it with me"]),
            ("Adding them will bring your premium to about {price} per month. Is that ok?",
             ["yes, that's fine", "ouch, but ok", "that's more than I expected... fine, go ahead"]),
        ],
        "resolutions": [
            "They're now listed on your policy and covered from today. Updated ID cards are in the app.",
            "Done. Completing a defensive driving course could lower that premium, and I've emailed the details.",
            "The new driver is added effective immediately, and your next bill will reflect the change.",
        ],
    },
    "renew_policy": {
        "domain": "insurance",
        "openers": [
            "My policy is expiring soon and I'd like to renew it.",
            "Can I renew my car insurance for another year?",
            "i got a renewal notice, how do i renew",
            "Hi, I'd like to renew my home insurance but the price went up a lot.",
            "Will my policy renew automatically?",
            "My policy lapsed last week, can I still renew?",
            "I want to renew, but can you check if there are any discounts?",
            "Hello, I'm calling about renewing policy {policy}.",
            "What's my renewal premium going to be?",
            "I'd like to renew my renters insurance with the same coverage.",
            "Can I renew early and lock in the current rate?",
            "Please renew my annual travel insurance for another year.",
            "renewal came in higher than last year, why?",
            "I'd like to go ahead and renew my auto policy.",
        ],
        "exchanges": [
            ASK_POLICY,
            ("Would you like to keep the same coverage or make changes?",
             ["same coverage", "keep it the same but raise the deductible", "same, unless there's something cheaper"]),
            ("Your renewal premium is {price} per month. Shall I process it?",
             ["yes please", "that's higher than last year, but fine", "go ahead"]),
            ("Would you like to pay in full or monthly?",
             ["monthly", "in full, if there's a discount", "monthly from the same account"]),
        ],
        "resolutions": [
            "Your policy is renewed for another 12 months. New documents are on their way.",
            "Renewal done, and I applied a 5% loyalty discount since you've been claim-free.",
            "I've reinstated and renewed the policy, so there's no gap in coverage.",
        ],
    },
    "coverage_inquiry": {
        "domain": "insurance",
        "openers": [
            "Does my policy cover flood damage?",
            "Am I covered if I rent a car on vacation?",
            "is my phone covered under my home insurance",
            "Hi, I'd like to know what my policy actually covers.",
            "Does my car insurance include roadside assistance?",
            "If a friend borrows my car and crashes it, am I covered?",
            "What's my deductible for collision?",
            "Would my renters insurance cover a stolen bike?",
            "Hello, does my travel insurance cover trip cancellations?",
            "Am I covered for damage from a burst pipe?",
            "Is hail damage included in my policy?",
            "Does my policy cover me when driving in {country}?",
            "what's the liability limit on my policy?",
            "I'm about to do a road trip to {city}, does my insurance cover a rental?",
        ],
        "exchanges": [
            ASK_POLICY,
            ("Would you like me to email you a copy of your full coverage summary as well?",
             ["yes please", "sure, that'd be useful", "no, just the answer is fine"]),
            ("Is this for something that's already happened, or are you planning ahead?",
             ["just planning ahead", "it already happened {date}", "planning ahead, for now"]),
        ],
        "resolutions": [
            "Yes, that's covered under your policy, subject to your $500 deductible.",
            "Unfortunately that isn't included in your current policy, but I can add a rider for {price} a month.",
            "You're covered for that, and I've emailed you a summary of your coverage limits.",
        ],
    },
}


def intents_by_domain() -> dict[str, list[str]]:
    """Group intent names by domain so switches stay within one company's call."""
    grouped: dict[str, list[str]] = {domain: [] for domain in COMPANIES}
    for name, spec in INTENTS.items():
        grouped[spec["domain"]].append(name)
    return grouped


def draw_slots(rng: random.Random, domain: str) -> dict[str, str]:
    """Pick one value per slot so a dialogue stays self-consistent (same card, city, ...)."""
    return {
        "company": COMPANIES[domain],
        "agent": rng.choice(AGENT_NAMES),
        "amount": f"${rng.randint(12, 980)}.{rng.randint(0, 99):02d}",
        "last4": f"{rng.randint(0, 9999):04d}",
        "ref": str(rng.randint(10000, 99999)),
        "code": str(rng.randint(100000, 999999)),
        "policy": f"HM-{rng.randint(1000000, 9999999)}",
        "claim": f"CL-{rng.randint(100000, 999999)}",
        "price": f"${rng.randint(19, 149)}",
        "balance": rng.choice(BALANCES),
        "city": rng.choice(CITIES),
        "country": rng.choice(COUNTRIES),
        "merchant": rng.choice(MERCHANTS),
        "date": rng.choice(DATES),
        "car": rng.choice(CARS),
        "driver": rng.choice(DRIVERS),
        "plan": rng.choice(PLANS),
        "carrier": rng.choice(CARRIERS),
        "loan_amount": rng.choice(LOAN_AMOUNTS),
        "months": rng.choice(MONTHS),
        "dob": rng.choice(BIRTH_DATES),
    }


def lower_first(text: str) -> str:
    """Lower-case the first letter so an opener reads naturally after a lead-in phrase."""
    if text.startswith(("I ", "I'")):
        return text
    return text[:1].lower() + text[1:]


def intent_block(intent: str, rng: random.Random, lead: str = "") -> list[tuple[str, str, str | None]]:
    """Turns for one customer need: statement, 1-3 clarifying Q/A pairs, agent resolution."""
    spec = INTENTS[intent]
    openers = spec["openers"]
    if lead:  # a greeting-style opener sounds wrong after "oh, and while I have you"
        openers = [o for o in openers if not o.lower().startswith(("hi", "hello", "hey", "good"))]
    opener = rng.choice(openers)
    turns: list[tuple[str, str, str | None]] = [("customer", lead + lower_first(opener) if lead else opener, intent)]
    picks = sorted(rng.sample(range(len(spec["exchanges"])), rng.choice((1, 1, 2, 2, 3))))
    for i in picks:
        question, answers = spec["exchanges"][i]
        turns.append(("agent", question, None))
        if rng.random() < OFF_TOPIC_RATE:
            turns.append(("customer", rng.choice(OFF_TOPIC), None))
            turns.append(("agent", rng.choice(OFF_TOPIC_REPLIES), None))
        turns.append(("customer", rng.choice(answers), intent))
    turns.append(("agent", rng.choice(spec["resolutions"]), None))
    return turns


def make_dialogue(dialogue_id: str, intent: str, rng: random.Random) -> dict:
    """Assemble greeting, optional small talk, one or two intent blocks and a closing."""
    domain = INTENTS[intent]["domain"]
    slots = draw_slots(rng, domain)
    turns: list[tuple[str, str, str | None]] = [("agent", rng.choice(GREETINGS), None)]
    if rng.random() < SMALL_TALK_RATE:
        line, replies = rng.choice(SMALL_TALK)
        turns += [("customer", line, None), ("agent", rng.choice(replies), None)]
    turns += intent_block(intent, rng)
    if rng.random() < SWITCH_RATE:
        second = rng.choice([name for name in intents_by_domain()[domain] if name != intent])
        turns += intent_block(second, rng, lead=rng.choice(SWITCH_LEADS))
    if rng.random() < QUICK_BYE_RATE:
        turns.append(("customer", rng.choice(QUICK_BYES), None))
    else:
        turns += [("customer", rng.choice(THANKS), None), ("agent", rng.choice(ANYTHING_ELSE), None),
                  ("customer", rng.choice(NOTHING_ELSE), None)]
    turns.append(("agent", rng.choice(GOODBYES), None))
    return {
        "dialogue_id": dialogue_id,
        "domain": domain,
        "turns": [{"speaker": speaker, "utterance": template.format_map(slots), "intent": label}
                  for speaker, template, label in turns],
    }


def generate(seed: int, n_dialogues: int) -> list[dict]:
    """Build all dialogues; primary intents are dealt round-robin so every intent is well represented."""
    rng = random.Random(seed)
    names = list(INTENTS)
    schedule = [names[i % len(names)] for i in range(n_dialogues)]
    rng.shuffle(schedule)
    return [make_dialogue(f"d{i + 1:04d}", intent, rng) for i, intent in enumerate(schedule)]


def write_outputs(dialogues: list[dict], out_dir: Path) -> None:
    """Write dialogues.jsonl and the flattened turns.csv with fixed newlines for byte-stable output."""
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "dialogues.jsonl", "w", encoding="utf-8", newline="\n") as f:
        for dialogue in dialogues:
            f.write(json.dumps(dialogue, ensure_ascii=False) + "\n")
    with open(out_dir / "turns.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["dialogue_id", "turn_index", "speaker", "text", "intent"])
        for dialogue in dialogues:
            for index, turn in enumerate(dialogue["turns"]):
                writer.writerow([dialogue["dialogue_id"], index, turn["speaker"], turn["utterance"],
                                 turn["intent"] or ""])


def main(argv: list[str] | None = None) -> None:
    """CLI entry point: regenerate the sample files (defaults reproduce the committed ones)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--n-dialogues", type=int, default=300)
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: this folder)")
    args = parser.parse_args(argv)
    write_outputs(generate(args.seed, args.n_dialogues), args.out)


if __name__ == "__main__":
    main()
